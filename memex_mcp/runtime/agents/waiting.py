"""Waiting for agents from a cell: the cell's thread sleeps on the agents' events (releasing the GIL,
so the agents' threads run their code) and reports how many are done while it waits."""

from __future__ import annotations

from collections.abc import Sequence

from memex_mcp.clock import SYSTEM, Clock
from memex_mcp.runtime.agents.handle import AgentHandle
from memex_mcp.runtime.progress import State, wait_with_progress


def wait_for(handles: Sequence[AgentHandle], timeout: float | None, clock: Clock = SYSTEM) -> None:
    """Block until every handle is done; TimeoutError after `timeout` seconds."""
    events = [handle._finished for handle in handles]
    if not wait_with_progress(events, lambda: _state(handles), timeout=timeout, clock=clock):
        running = [h.name for h in handles if not h.done()]
        raise TimeoutError(
            f"{', '.join(running)} still running after {timeout:g} s; they keep running. Wait again, or .cancel() them."
        )


def _state(handles: Sequence[AgentHandle]) -> State:
    total = len(handles)
    finished = sum(h.done() for h in handles)
    message = f"{finished}/{total} agents done"
    if total == 1 and finished == 0:
        message += f"; {handles[0].name} is on turn {len(handles[0].transcript) + 1}"
    return finished, total, message
