"""Progress of long waits in a cell (loading data, indexing, sub-agents), reported to the client by
the server, and the one loop that waits on events while reporting it.

Progress belongs to the execution that is waiting, so it is reported only from a cell's own thread.
The server turns it into an MCP progress notification when the client asked for them; it never
becomes output.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from memex_mcp.clock import SYSTEM, Clock
from memex_mcp.protocol import PROGRESS_MIME, Progress
from memex_mcp.runtime.cells.streams import ROUTE

#: (progress, total or None, message): where a wait stands.
State = tuple[float, float | None, str]
Report = Callable[[float, float | None, str], None]

#: Longest wait on an event between looks at the clock: bounds how late a report can be, and how
#: long an exception raised in the waiting thread (a cancelled agent's) waits to take effect.
SLICE = 0.25
#: A report is re-sent this often even when nothing changed, so the client sees life.
HEARTBEAT = 1.0


def report_progress(progress: float, total: float | None = None, message: str = "") -> None:
    from IPython.display import publish_display_data

    progress_data = Progress(progress=progress, total=total, message=message).model_dump()
    publish_display_data({PROGRESS_MIME: progress_data})  # type: ignore[no-untyped-call]


def cell_reporter() -> Report | None:
    """`report_progress` on a cell's own thread; None elsewhere (an agent's thread, a thread the
    cell started, outside a kernel), where a report would belong to no waiting execution."""
    if ROUTE.get() is not None or threading.current_thread() is not threading.main_thread():
        return None
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return report_progress if get_ipython() is not None else None


def wait_with_progress(
    events: Sequence[threading.Event],
    state: Callable[[], State],
    *,
    timeout: float | None = None,
    quiet: float = 0.0,
    clock: Clock = SYSTEM,
    report: Report | None = None,
) -> bool:
    """Block until every event is set (True), or until `timeout` seconds have passed (False).

    Once the wait has lasted `quiet` seconds, `state()` is reported whenever it changes and every
    `HEARTBEAT` seconds when it does not; a wait that reported anything reports its final state
    when it ends. `report` defaults to `cell_reporter()`.
    """
    report = report or cell_reporter()
    start = clock.monotonic()
    deadline = None if timeout is None else start + timeout
    shown: State | None = None
    shown_at = start
    for event in events:
        while not event.is_set():
            now = clock.monotonic()
            if report is not None and now - start >= quiet:
                current = state()
                if current != shown or now - shown_at >= HEARTBEAT:
                    report(*current)
                    shown, shown_at = current, now
            if deadline is not None and now >= deadline:
                return False
            clock.wait(event, SLICE if deadline is None else min(SLICE, deadline - now))
    if report is not None and shown is not None and (final := state()) != shown:
        report(*final)
    return True
