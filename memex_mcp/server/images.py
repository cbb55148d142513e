"""Figures for the model: small enough that one image stays well under 1 MB."""

from __future__ import annotations

import io

from PIL import Image as PILImage

from memex_mcp.server.output import Image

#: Encoded bytes one image may take; base64 adds a third on the wire.
MAX_IMAGE_BYTES = 600_000


def fit(image: Image, max_side: int) -> Image:
    """Downscale to `max_side` pixels and re-encode until the image is under MAX_IMAGE_BYTES."""
    try:
        with PILImage.open(io.BytesIO(image.data)) as source:
            source.load()
            picture = source.copy()
    except Exception:
        return image  # not decodable by Pillow: pass it through untouched if it is small
    if max(picture.size) <= max_side and len(image.data) <= MAX_IMAGE_BYTES:
        return image
    picture.thumbnail((max_side, max_side))
    data = _encode(picture, "PNG")
    side = max_side
    while len(data) > MAX_IMAGE_BYTES and side > 64:
        side = int(side * 0.7)
        picture.thumbnail((side, side))
        data = _encode(picture.convert("RGB"), "JPEG", quality=80)
    mime = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
    return Image(mime, data)


def _encode(picture: PILImage.Image, fmt: str, **options: int) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt, optimize=True, **options)
    return buffer.getvalue()
