"""The server's interrupt (SIGINT, as Ctrl-C) stops a DuckDB query that is running.

Python runs signal handlers on the main thread between bytecodes; a query runs in DuckDB's C++
code on that thread, so the KeyboardInterrupt would come only when the query ends, and the server
would restart the kernel instead. The C-level handler writes the signal number to the wakeup fd at
once, though: a thread that reads it calls `connection.interrupt()` (safe from any thread, and a
no-op when nothing runs). The KeyboardInterrupt still follows, as usual.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection


def install(connection: Callable[[], DuckDBPyConnection | None]) -> bool:
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
            if signal.SIGINT in received and current is not None:
                with contextlib.suppress(Exception):
                    current.interrupt()

    threading.Thread(target=forward, name="memex-sql-interrupt", daemon=True).start()
    return True
