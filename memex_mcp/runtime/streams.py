"""Tees of the kernel's stdout and stderr, in the order the cell wrote them.

ipykernel buffers each stream on its own and forwards file-descriptor writes (subprocesses, C
libraries) from a pipe-reading thread. Two fixes keep the output whole and ordered: a switch of
stream flushes the other one, and at the end of a cell each watched descriptor is synced through
its pipe so that late bytes still belong to the cell that wrote them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

#: Written into a watched descriptor at the end of a cell; the pipe thread hands it back to us.
_SYNC = "\0"
_SYNC_WAIT = 0.5


class StreamTee:
    def __init__(self, stream: Any, sink: Callable[[str], None]) -> None:
        self._stream = stream
        self._write = stream.write
        self._sink = sink
        self._synced: threading.Event | None = None
        self._pending = 0
        self.other: StreamTee | None = None
        self._last = False

    def install(self) -> None:
        self._stream.write = self.write

    def write(self, text: str) -> Any:
        synced = False
        if self._pending and isinstance(text, str) and _SYNC in text:
            # A marker that came back late (after a timed-out wait) is still ours to remove.
            found = min(text.count(_SYNC), self._pending)
            text = text.replace(_SYNC, "", found)
            self._pending -= found
            synced = True
        written = self._forward(text) if text else 0
        # Only now: the waiting cell flushes the stream next, and the text must be in it.
        if synced and self._synced is not None:
            self._synced.set()
        return written

    def _forward(self, text: str) -> Any:
        if self.other is not None and self.other._last:
            self.other._last = False
            self.other._stream.flush()
        self._last = True
        if isinstance(text, str):
            self._sink(text)
        return self._write(text)

    def start_sync(self) -> threading.Event | None:
        """Send a marker through the descriptor pipe, if ipykernel watches one."""
        fd = getattr(self._stream, "_original_stdstream_fd", None)
        if fd is None or not getattr(self._stream, "_should_watch", False):
            return None
        self._synced = threading.Event()
        self._pending += 1
        os.write(fd, _SYNC.encode())
        return self._synced

    def end_sync(self) -> None:
        self._synced = None


def sync(tees: list[StreamTee]) -> None:
    """Wait until every byte written to the watched descriptors so far has been forwarded."""
    events = [(tee, tee.start_sync()) for tee in tees]
    for tee, event in events:
        if event is not None:
            event.wait(_SYNC_WAIT)
        tee.end_sync()
