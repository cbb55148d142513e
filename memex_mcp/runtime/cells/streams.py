"""Tees of the kernel's stdout and stderr, and whose output each write is.

A write belongs to whatever ROUTE is set in the writing context: a sub-agent's (its transcript) or an
execution's `Origin` (the execution that started the writing thread). New threads start with an empty
context, so `Thread.start` and `ThreadPoolExecutor.submit` are wrapped here to hand the starter's
route on; a thread started by a cell's own thread gets that cell's Origin. Writes without a route
(the cell's own thread, threads of unknown origin, file descriptors) belong to the running cell.

ipykernel buffers each stream on its own, so a switch from one stream to the other flushes the
first: stdout and stderr stay interleaved as produced. A write is passed on in pieces of at most
CHUNK characters, flushed as they add up: no message on IOPub, and no copy anywhere, is larger.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

#: Characters of one piece of output: one IOPub message at most, and what a write is cut into.
CHUNK = 2**20


@dataclass(frozen=True)
class Origin:
    """The route of a thread started by execution `number` (or by one of its threads)."""

    number: int


Route = Callable[[str], object] | Origin

#: Where writes go in the context that sets it. A callable takes them instead of the kernel's
#: streams (a sub-agent's thread: its prints never reach the cell's output nor its record).
ROUTE: ContextVar[Route | None] = ContextVar("memex_stream_route", default=None)

_thread_start = threading.Thread.start
_submit = ThreadPoolExecutor.submit


def _no_origin() -> Origin | None:
    return None


#: The route of a thread started where none is set; the cell recorder gives the running cell's.
_origin: list[Callable[[], Origin | None]] = [_no_origin]


def starter_route() -> Route | None:
    return ROUTE.get() or _origin[0]()


def routed_threads(origin: Callable[[], Origin | None] | None = None) -> None:
    """Make threads, and thread pool tasks, write where their starter would. Idempotent; `origin`
    gives the route where the starter has none."""
    if origin is not None:
        _origin[0] = origin
    if threading.Thread.start is not _thread_start:
        return

    def start(thread: threading.Thread) -> None:
        route = starter_route()
        if route is not None:
            run = thread.run

            def routed_run() -> None:
                ROUTE.set(route)
                run()

            thread.run = routed_run  # type: ignore[method-assign]
        _thread_start(thread)

    def submit(executor: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        # A pool's threads outlive the cell that started them: each task writes as its submitter.
        route = starter_route()

        def routed(*a: Any, **k: Any) -> Any:
            token = ROUTE.set(route)
            try:
                return fn(*a, **k)
            finally:
                ROUTE.reset(token)

        return _submit(executor, routed, *args, **kwargs)

    threading.Thread.start = start  # type: ignore[method-assign, assignment]
    ThreadPoolExecutor.submit = submit  # type: ignore[method-assign, assignment]


#: Decides where a piece goes: (tee, text, origin), origin None when the writer has none.
Sink = Callable[["StreamTee", str, "int | None"], None]


class StreamTee:
    def __init__(self, stream: Any, sink: Sink) -> None:
        self._stream = stream
        self._write = stream.write
        self._sink = sink
        self.other: StreamTee | None = None
        self._last = False
        self._unflushed = 0

    def install(self) -> None:
        self._stream.write = self.write

    def write(self, text: str) -> Any:
        if not isinstance(text, str):
            return self._write(text)  # the stream's own TypeError
        route = ROUTE.get()
        if route is not None and not isinstance(route, Origin):
            if text:
                route(text)
            return len(text)
        origin = route.number if route is not None else None
        for start in range(0, len(text), CHUNK):
            self._sink(self, text[start : start + CHUNK], origin)
        return len(text)

    def send(self, text: str) -> None:
        """Pass `text` on to the kernel's stream, after what the other stream has pending."""
        if self.other is not None and self.other._last:
            self.other._last = False
            self.other._stream.flush()
        self._last = True
        self._write(text)
        self._unflushed += len(text)
        if self._unflushed >= CHUNK:
            self._unflushed = 0
            self._stream.flush()
