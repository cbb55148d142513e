"""The server's interrupt (SIGINT, as Ctrl-C) stops a DuckDB query that is running.

Python runs signal handlers on the main thread between bytecodes; a query runs in DuckDB's C++
code on that thread, so the KeyboardInterrupt would come only when the query ends, and the server
would restart the kernel instead. The C-level handler writes the signal number to the wakeup fd at
once, though: a thread that reads it calls `connection.interrupt()` (safe from any thread, and a
no-op when nothing runs). The KeyboardInterrupt still follows, as usual.

Only a SIGINT that arrives while a cell runs is forwarded: the server interrupts executions, and
one that lands after its cell ended (the call finished just as its timeout fired) must not stop
whatever query the kernel runs next. `Cells` tells which is which, and counts forwarded interrupts
so that a stopped query's error can say whether an interrupt of its own cell stopped it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from memex_mcp.runtime.cells.streams import own_thread

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection


class Cells:
    """Whether a cell runs now, and the interrupts forwarded to DuckDB since it began."""

    def __init__(self) -> None:
        self.running = threading.Event()
        self.forwarded = 0
        self._at_start = 0

    def started(self) -> None:
        self._at_start = self.forwarded
        self.running.set()

    def ended(self) -> None:
        self.running.clear()

    @property
    def interrupted(self) -> bool:
        """Whether an interrupt was forwarded during the current (or last) cell."""
        return self.forwarded > self._at_start


def install(connection: Callable[[], DuckDBPyConnection | None], cells: Cells) -> bool:
    """Interrupt `connection()`'s query on SIGINT. Only from the main thread, and only if no one else
    uses the wakeup fd (an event loop that does would stop seeing its signals); True if installed."""
    if threading.current_thread() is not threading.main_thread():
        return False
    read, write = os.pipe()
    os.set_blocking(write, False)
    try:
        previous = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    except ValueError:
        previous = None
    if previous != -1:
        if previous is not None:
            signal.set_wakeup_fd(previous)
        os.close(read)
        os.close(write)
        return False

    def forward() -> None:
        while True:
            try:
                received = os.read(read, 64)
            except OSError:
                return
            if not received:
                return
            current = connection()
            if signal.SIGINT in received and current is not None and cells.running.is_set():
                cells.forwarded += 1
                with contextlib.suppress(Exception):
                    current.interrupt()

    own_thread(forward, "memex-sql-interrupt")
    return True
