"""Sub-agents: models that work in this kernel, in parallel, in namespaces of
their own, and hand back validated Python objects.

    hs = [spawn_agent("Extract the revenue table", inputs={"hit": h}, returns=Table) for h in hits]
    revenue_tables = gather(*hs)

Each agent runs in its own thread. Its namespace starts as the parent's names (the same live
objects) and takes its own assignments; its prints go to its transcript, never to the cell.
"""

from memex_mcp.protocol import ScopeEntry
from memex_mcp.runtime.agents.handle import AgentFailed, AgentHandle, AgentStatus, Turn, Usage
from memex_mcp.runtime.agents.registry import Agents
from memex_mcp.runtime.agents.spawn import MAX_DEPTH, AgentDepthError, bind, gather

__all__ = [
    "MAX_DEPTH",
    "AgentDepthError",
    "AgentFailed",
    "AgentHandle",
    "AgentStatus",
    "Agents",
    "Turn",
    "Usage",
    "bind",
    "gather",
    "list_agents",
    "set_concurrency",
]


def set_concurrency(calls: int) -> None:
    """How many model calls the kernel's agents may have in flight at once (default: the
    RuntimeConfig's `agent_concurrency`). Agents started before keep the old limit."""
    from memex_mcp.runtime.runtime import current  # the runtime imports this package

    current().agents.set_concurrency(calls)


def list_agents(pattern: str | None = None) -> list[ScopeEntry]:
    """One entry per agent this kernel started (nested ones included): the running ones, then the
    most recent first."""
    from memex_mcp.runtime.runtime import current

    return current().agents.listing(pattern)
