"""Sub-agents (SPEC section 6). Not available in this version: the names exist so code gets a clear error."""

from __future__ import annotations

from typing import Any


class AgentsUnavailable(RuntimeError):
    pass


_MESSAGE = (
    "Sub-agents are not available in this version of memex-mcp yet. "
    "Do the work directly in code for now."
)


def spawn_agent(task: str, inputs: Any = None, returns: Any = None, name: str | None = None,
                model: str | None = None, max_turns: int = 20) -> Any:
    """Start a sub-agent (not available in this version yet)."""
    raise AgentsUnavailable(_MESSAGE)


def gather(*handles: Any, timeout: float | None = None) -> list[Any]:
    """The results of several agents, in order (not available in this version yet)."""
    raise AgentsUnavailable(_MESSAGE)
