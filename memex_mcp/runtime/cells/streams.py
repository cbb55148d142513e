"""Tees of the kernel's stdout and stderr, and whose output each write is.

A write belongs to whatever ROUTE is set in the writing context: a sub-agent's (its transcript) or an
execution's `Origin` (the execution that started the writing thread). New threads start with an empty
context, so users' threads get the starter's route from a patch of `Thread.start` and
`ThreadPoolExecutor.submit` (see `touchpoints.carry_into_threads`); a thread started by a cell's own
thread gets that cell's Origin. memex's own threads (`own_thread`) are given theirs explicitly.
Writes without a route (the cell's own thread, threads of unknown origin, file descriptors) belong
to the running cell.

ipykernel buffers each stream on its own, so a switch from one stream to the other flushes the
first: stdout and stderr stay interleaved as produced. A write is passed on in pieces of at most
CHUNK characters, flushed as they add up: no message on IOPub, and no copy anywhere, is larger.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from memex_mcp.runtime import touchpoints

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


def _no_origin() -> Origin | None:
    return None


#: The route of a thread started where none is set; the cell recorder gives the running cell's.
_origin: list[Callable[[], Origin | None]] = [_no_origin]


def starter_route() -> Route | None:
    return ROUTE.get() or _origin[0]()


def _carry_route(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn`, run with the route of the thread that calls this (the starter or submitter)."""
    route = starter_route()
    if route is None:
        return fn

    def routed(*args: Any, **kwargs: Any) -> Any:
        token = ROUTE.set(route)
        try:
            return fn(*args, **kwargs)
        finally:
            ROUTE.reset(token)

    return routed


def routed_threads(origin: Callable[[], Origin | None] | None = None) -> None:
    """Make threads, and thread pool tasks, that users' code starts write where their starter would.
    Idempotent; `origin` gives the route where the starter has none."""
    if origin is not None:
        _origin[0] = origin
    touchpoints.carry_into_threads(_carry_route)


def own_thread(target: Callable[[], object], name: str, route: Route | None = None) -> threading.Thread:
    """Start one of memex's own daemon threads, writing to `route`: None, as it does, makes its
    writes the running cell's own output (a descriptor's pump), whichever cell started it."""

    def run() -> None:
        ROUTE.set(route)
        target()

    thread = threading.Thread(target=run, name=name, daemon=True)
    touchpoints.start_own_thread(thread)
    return thread


#: Decides where a piece goes: (tee, text, origin), origin None when the writer has none.
Sink = Callable[["StreamTee", str, "int | None"], None]


class StreamTee:
    def __init__(self, stream: Any, sink: Sink) -> None:
        self._stream = stream
        self._write = stream.write
        self._sink = sink
        self.other: StreamTee | None = None
        self._flush = stream.flush
        self._last = False
        self._unflushed = 0
        #: Whether anything was passed on since the last flush.
        self._written = False

    def install(self) -> None:
        touchpoints.tee_stream(self._stream, self.write, self.flush)

    def flush(self) -> None:
        """Flush the kernel's stream, unless nothing was written since the last flush.

        ipykernel flushes both streams after every cell and again after every request, and each
        flush is a round trip to its IOPub thread, written or not. A write racing past this check
        is still sent by ipykernel's own flush timer."""
        if self._written:
            self._written = False
            self._flush()

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
            self.other.flush()
        self._last = True
        self._written = True
        self._write(text)
        self._unflushed += len(text)
        if self._unflushed >= CHUNK:
            self._unflushed = 0
            self.flush()
