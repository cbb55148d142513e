"""Time behind a seam: what every throttle, heartbeat and progress wait reads, and its fake.

Both the server and the runtime load this module (it needs only the standard library). Code that
measures or waits takes a `Clock` and defaults to `SYSTEM`; tests pass a `FakeClock`, so no test
sleeps for time to pass.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back; only differences mean anything."""
        ...

    def wait(self, event: threading.Event, timeout: float) -> bool:
        """Block until `event` is set (True) or `timeout` seconds pass (False)."""
        ...


class SystemClock:
    """The real clock: `time.monotonic` and `threading.Event.wait`."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, event: threading.Event, timeout: float) -> bool:
        return event.wait(timeout)


SYSTEM: Clock = SystemClock()


class FakeClock:
    """A clock that moves only when told to, for tests.

    `advance(seconds)` moves it, setting the events scheduled with `set_at` on the way. A `wait`
    for an event that is not set moves the clock at once, as if the time passed with nothing else
    happening (trio's `MockClock` with an autojump threshold of zero): to the moment the event is
    scheduled for, if that comes first (True), else to the end of the wait (False). So a loop that
    waits in slices runs through its fake seconds in no real time. Set events through `set_at` or
    from the code under test (a progress callback), not from a thread that needs real time.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._scheduled: list[tuple[float, threading.Event]] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def set_at(self, when: float, event: threading.Event) -> None:
        """Set `event` once the clock reaches `when` (at once if it has)."""
        with self._lock:
            due = when <= self._now
            if not due:
                self._scheduled.append((when, event))
        if due:
            event.set()

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"a clock never goes back; advance by {seconds} s refused")
        with self._lock:
            target = self._now + seconds
        self._move_to(target)

    def wait(self, event: threading.Event, timeout: float) -> bool:
        if event.is_set():
            return True
        with self._lock:
            end = self._now + max(timeout, 0.0)
            moments = [when for when, scheduled in self._scheduled if scheduled is event and when <= end]
        self._move_to(min(moments, default=end))
        return event.is_set()

    def _move_to(self, target: float) -> None:
        with self._lock:
            self._now = max(self._now, target)
            due = [event for when, event in self._scheduled if when <= self._now]
            self._scheduled = [(when, event) for when, event in self._scheduled if when > self._now]
        for event in due:
            event.set()
