"""Figures for the model: downscaled until a reply's images fit the client's budget.

Some clients count an image's base64 as text against their result limit (Claude Code rejects
results above about 25k tokens), so the budget is for all images of one reply together.
"""

from __future__ import annotations

import io

from PIL import Image as PILImage

from memex_mcp.server.output import Image

_SMALLEST_SIDE = 64


def fit(image: Image, max_side: int, max_bytes: int) -> Image | None:
    """The image within `max_side` pixels and `max_bytes` encoded, or None if it cannot be."""
    try:
        with PILImage.open(io.BytesIO(image.data)) as source:
            source.load()
            picture = source.copy()
    except Exception:
        return None  # its structure passed the check on arrival (output.py), its pixels did not
    if max(picture.size) <= max_side and len(image.data) <= max_bytes:
        return image
    picture.thumbnail((max_side, max_side))
    data = _encode(picture, "PNG")
    side = max(picture.size)
    # Photographs and noise shrink far better as JPEG; line art usually fits as PNG already.
    while len(data) > max_bytes and side > _SMALLEST_SIDE:
        data = _encode(picture.convert("RGB"), "JPEG", quality=75)
        if len(data) <= max_bytes:
            break
        side = max(int(side * 0.7), _SMALLEST_SIDE)
        picture.thumbnail((side, side))
    if len(data) > max_bytes:
        return None
    return Image("image/png" if data.startswith(b"\x89PNG") else "image/jpeg", data)


def _encode(picture: PILImage.Image, fmt: str, **options: int) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt, optimize=True, **options)
    return buffer.getvalue()
