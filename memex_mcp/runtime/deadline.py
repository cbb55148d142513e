"""A time limit on a piece of kernel code that may call into user objects (a slow `__repr__`).

The limit is a one-shot SIGALRM timer whose handler raises `Overrun` where the code is, so it
only works on the main thread (where Python runs signal handlers); elsewhere the code runs
unbounded. `Overrun` derives from `BaseException`, so a user's `except Exception` cannot swallow it.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Overrun(BaseException):
    """The time limit of `time_limit` ran out while its block was running."""


def can_limit() -> bool:
    """Whether `time_limit` can stop code here: only the main thread receives signals."""
    return threading.current_thread() is threading.main_thread()


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise `Overrun` in the block once `seconds` have passed; restore the previous SIGALRM
    handler and timer afterwards. Off the main thread the block runs without a limit."""
    if not can_limit():
        yield
        return
    armed = True

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        if armed:
            raise Overrun

    started = time.monotonic()
    earlier, interval = 0.0, 0.0
    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        earlier, interval = signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-3))
        yield
    finally:
        # The alarm may land between the end of the block and this line: it is late, not an overrun.
        try:
            armed = False
        except Overrun:
            armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if earlier:  # someone else's timer was running: give it back what is left of it
            left = max(earlier - (time.monotonic() - started), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, left, interval)
