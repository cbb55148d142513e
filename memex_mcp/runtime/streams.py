"""Tees of the kernel's stdout and stderr, in the order the cell wrote them.

ipykernel buffers each stream on its own, so a switch from one stream to the other flushes the
first: stdout and stderr stay interleaved as produced.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

#: Where writes go instead of the kernel's streams, in the context that sets it (a sub-agent's
#: thread): its prints then never reach the parent cell's output nor its record.
ROUTE: ContextVar[Callable[[str], object] | None] = ContextVar("memex_stream_route", default=None)

_thread_start = threading.Thread.start


def routed_threads() -> None:
    """Make threads started where a ROUTE is set write there too (new threads start with an
    empty context). Idempotent; threads started elsewhere are untouched. Descriptor writes
    (subprocesses, C code) cannot be told apart by thread and still reach the cell."""
    if threading.Thread.start is not _thread_start:
        return

    def start(thread: threading.Thread) -> None:
        route = ROUTE.get()
        if route is not None:
            run = thread.run

            def routed_run() -> None:
                ROUTE.set(route)
                run()

            thread.run = routed_run  # type: ignore[method-assign]
        _thread_start(thread)

    threading.Thread.start = start  # type: ignore[method-assign, assignment]


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
        route = ROUTE.get()
        if route is not None:
            if isinstance(text, str) and text:
                route(text)
            return len(text)
        if self.other is not None and self.other._last:
            self.other._last = False
            self.other._stream.flush()
        self._last = True
        if isinstance(text, str) and text:
            self._sink(text)
        return self._write(text)
