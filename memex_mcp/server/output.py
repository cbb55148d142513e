"""What one execution produced: text in bounded memory, images, the runtime's report."""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from memex_mcp.protocol import CellReport
from memex_mcp.server.clip import ClippedText


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
    #: The kernel reported busy with this request: the code reached it.
    started: bool = False
    #: Called as output arrives, at most once a second: long executions report progress.
    on_progress: Callable[[CellOutput], Awaitable[None]] | None = None
    _progressed_at: float = 0.0

    def __post_init__(self) -> None:
        self.text = ClippedText(self.keep)

    def add_image(self, image: Image) -> None:
        if len(self.images) < self.keep_images:
            self.images.append(image)
        else:
            self.images_dropped += 1

    async def progressed(self) -> None:
        if self.on_progress is not None and (now := time.monotonic()) - self._progressed_at >= 1.0:
            self._progressed_at = now
            await self.on_progress(self)


def add_display(out: CellOutput, data: dict[str, Any]) -> None:
    for mime in ("image/png", "image/jpeg", "image/gif", "image/webp"):
        if mime in data:
            out.add_image(Image(mime, base64.b64decode(data[mime])))
            return
    text = data.get("text/plain")
    if isinstance(text, str):
        out.text.append(text + "\n")
