"""Waiting for agents from a cell: the cell's thread sleeps on events (releasing the GIL, so the
agents' threads run their code) and reports progress to the client while it waits."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from memex_mcp.runtime.agents.handle import AgentHandle
from memex_mcp.runtime.cells.streams import ROUTE

#: Longest sleep between looks at the clock: bounds how late a progress report can be.
_SLICE = 0.25
#: Progress is re-sent this often even when nothing finished, so the client sees life.
_HEARTBEAT = 2.0


def wait_for(handles: Sequence[AgentHandle], timeout: float | None) -> None:
    """Block until every handle is done; TimeoutError after `timeout` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    report = _reporter(handles)
    last = -1
    sent_at = 0.0
    for handle in handles:
        while not handle.done():
            now = time.monotonic()
            finished = sum(h.done() for h in handles)
            if report and (finished != last or now - sent_at >= _HEARTBEAT):
                _report(handles, finished)
                last, sent_at = finished, now
            if deadline is not None and now >= deadline:
                running = [h.name for h in handles if not h.done()]
                raise TimeoutError(
                    f"{', '.join(running)} still running after {timeout:g} s; they keep running. "
                    "Wait again, or .cancel() them."
                )
            wait = _SLICE if deadline is None else max(0.0, min(_SLICE, deadline - now))
            handle._finished.wait(wait)
    if report and last != -1:
        _report(handles, len(handles))


def _reporter(handles: Sequence[AgentHandle]) -> bool:
    """Only a cell's own thread reports progress: it belongs to that execution."""
    if ROUTE.get() is not None or threading.current_thread() is not threading.main_thread():
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return get_ipython() is not None


def _report(handles: Sequence[AgentHandle], finished: int) -> None:
    from memex_mcp.runtime.progress import report_progress

    total = len(handles)
    message = f"{finished}/{total} agents done"
    if total == 1 and finished == 0:
        message += f"; {handles[0].name} is on turn {len(handles[0].transcript) + 1}"
    report_progress(finished, total, message)
