"""Tees of the kernel's stdout and stderr, in the order the cell wrote them.

ipykernel buffers each stream on its own, so a switch from one stream to the other flushes the
first: stdout and stderr stay interleaved as produced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class StreamTee:
    def __init__(self, stream: Any, sink: Callable[[str], None]) -> None:
        self._stream = stream
        self._write = stream.write
        self._sink = sink
        self.other: StreamTee | None = None
        self._last = False

    def install(self) -> None:
        self._stream.write = self.write

    def write(self, text: str) -> Any:
        if self.other is not None and self.other._last:
            self.other._last = False
            self.other._stream.flush()
        self._last = True
        if isinstance(text, str) and text:
            self._sink(text)
        return self._write(text)
