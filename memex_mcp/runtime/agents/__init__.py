"""Sub-agents: models that work in this kernel, in parallel, in namespaces of
their own, and hand back validated Python objects.

    hs = [spawn_agent("Extract the revenue table", inputs={"hit": h}, returns=Table) for h in hits]
    revenue_tables = gather(*hs)

Each agent runs in its own thread. Its namespace starts as the parent's names (the same live
objects) and takes its own assignments; its prints go to its transcript, never to the cell.
"""

from memex_mcp.runtime.agents.handle import AgentFailed, AgentHandle, AgentStatus, Turn, Usage
from memex_mcp.runtime.agents.spawn import MAX_DEPTH, AgentDepthError, bind, gather, list_agents, set_concurrency

__all__ = [
    "MAX_DEPTH",
    "AgentDepthError",
    "AgentFailed",
    "AgentHandle",
    "AgentStatus",
    "Turn",
    "Usage",
    "bind",
    "gather",
    "list_agents",
    "set_concurrency",
]
