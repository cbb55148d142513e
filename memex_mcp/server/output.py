"""What one execution produced: text in bounded memory, images, the runtime's report."""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from memex_mcp.clock import SYSTEM, Clock
from memex_mcp.protocol import PROGRESS_MIME, CellReport, Progress
from memex_mcp.server.clip import ClippedText

#: Seconds between two progress notifications of one execution, at least.
PROGRESS_EVERY = 1.0


@dataclass
class Image:
    mime: str
    data: bytes


@dataclass
class CellOutput:
    """What one execution produced, in the order the kernel produced it, in bounded memory."""

    #: Characters kept at each end of the text, and images kept.
    keep: int = 100_000
    keep_images: int = 8
    text: ClippedText = field(init=False)
    images: list[Image] = field(default_factory=list)
    images_dropped: int = 0
    report: CellReport | None = None
    #: `ename: evalue` from the kernel's own error message, for when no report arrives.
    raw_error: str | None = None
    #: The execute request's msg_id, once it is sent.
    request: str | None = None
    #: The kernel began this code (its `busy` status arrived): the timeout clock runs from here.
    began: asyncio.Event = field(default_factory=asyncio.Event)
    #: The code may have run, in part: a death is then its doing, and it is never run again.
    started: bool = False
    #: Called as output or runtime progress arrives, at most once every `PROGRESS_EVERY` seconds.
    on_progress: Callable[[Progress], Awaitable[None]] | None = None
    #: The last progress the runtime reported in this execution, if any.
    runtime_progress: Progress | None = None
    #: What the throttle reads.
    clock: Clock = SYSTEM
    _progressed_at: float = -math.inf
    #: The value of the last notification: the next one must be greater.
    _sent: float = -math.inf
    _offset: float = 0.0

    def __post_init__(self) -> None:
        self.text = ClippedText(self.keep)

    def add_image(self, image: Image) -> None:
        if len(self.images) < self.keep_images:
            self.images.append(image)
        else:
            self.images_dropped += 1

    async def progressed(self) -> None:
        """Output or runtime progress arrived: tell `on_progress` now, unless it was told less than
        `PROGRESS_EVERY` seconds ago (the first arrival always goes through)."""
        if self.on_progress is not None and (now := self.clock.monotonic()) - self._progressed_at >= PROGRESS_EVERY:
            self._progressed_at = now
            await self.on_progress(self._progress())

    def _progress(self) -> Progress:
        """What to report now. MCP wants the value to grow with every notification, so a runtime
        phase that starts again from zero (a second wait in one cell) continues from the last value."""
        reported = self.runtime_progress
        if reported is None:
            recent = self.text.tail or self.text.head
            last = recent.rstrip("\n").rsplit("\n", 1)[-1][-200:]
            value, total = float(self.text.total), None
            message = f"{self.text.total:,} characters of output so far; last line: {last}"
        else:
            if reported.progress + self._offset < self._sent:
                self._offset = self._sent
            value = reported.progress + self._offset
            total = reported.total + self._offset if reported.total is not None else None
            message = reported.message
        value = max(value, self._sent + 1e-6)
        self._sent = value
        return Progress(progress=value, total=total, message=message)


def add_display(out: CellOutput, data: dict[str, Any]) -> None:
    if PROGRESS_MIME in data:
        out.runtime_progress = Progress.model_validate(data[PROGRESS_MIME])
        return
    for mime in _IMAGE_MIMES:
        if mime in data:
            image = _decoded(mime, data[mime])
            if isinstance(image, Image):
                out.add_image(image)
            else:  # said where it was displayed, in one line, instead of sending what no client can show
                out.text.append(f"[memex] A displayed {mime} image was not returned: {image}.\n")
            return
    text = data.get("text/plain")
    if isinstance(text, str):
        out.text.append(text + "\n")


_IMAGE_MIMES = ("image/png", "image/jpeg", "image/gif", "image/webp")


def _decoded(mime: str, encoded: Any) -> Image | str:
    """The image, with the MIME type of what the bytes really are; or why it cannot be shown."""
    from PIL import Image as PILImage  # loaded with the first image, not with the server

    try:
        raw = base64.b64decode("".join(encoded.split()) if isinstance(encoded, str) else "", validate=True)
    except (binascii.Error, ValueError):
        return "its data is not valid base64"
    try:
        with PILImage.open(io.BytesIO(raw)) as picture:
            kind = picture.format
            picture.verify()  # checks the structure and checksums without decoding every pixel
    except Exception as exc:
        reason = str(exc) or type(exc).__name__
        return f"it could not be decoded ({reason[:200]})"
    real = PILImage.MIME.get(kind or "", mime)
    return Image(real if real in _IMAGE_MIMES else mime, raw)
