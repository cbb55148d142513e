"""`Agents`: a kernel's sub-agents, their shared limit on model calls and their default model."""

from __future__ import annotations

import fnmatch
import itertools
import threading
import time
from typing import TYPE_CHECKING

from memex_mcp.protocol import RuntimeConfig, ScopeEntry
from memex_mcp.runtime.agents.handle import AgentHandle
from memex_mcp.runtime.feed import AgentLog
from memex_mcp.runtime.models import Model, resolve

if TYPE_CHECKING:
    from memex_mcp.runtime.agents.runner import Runner

#: How long `stop()` waits, by default, for cancelled agents to unwind (code blocked in C may not).
EXIT_GRACE = 1.0


class Agents:
    """Every agent a kernel started (nested ones included), in the order they started.

    Handles stay listed for good; the runners (and with them the agents' namespaces) only while
    their thread runs.
    """

    def __init__(self, config: RuntimeConfig) -> None:
        self.config = config
        self.handles: list[AgentHandle] = []
        #: Model calls in flight at once, shared by all agents started while it is the limit.
        self.limits = threading.BoundedSemaphore(config.agent_concurrency)
        #: What `spawn_agent` uses when it names no model (None: the config's `agent_model`).
        self.default: Model | str | None = None
        self._numbers = itertools.count(1)
        self._running: set[Runner] = set()
        self._lock = threading.Lock()
        #: Each agent's record for the viewer, in the session dir.
        self._log = AgentLog(config.session_dir)

    def set_concurrency(self, calls: int) -> None:
        """At most `calls` model calls in flight at once; agents started before keep the old limit."""
        if calls < 1:
            raise ValueError("concurrency must be at least 1")
        self.limits = threading.BoundedSemaphore(calls)

    def set_default_model(self, model: Model | str | None) -> None:
        if isinstance(model, str):
            resolve(model)  # a bad spec fails here, not in the first agent
        self.default = model

    def default_model(self) -> Model:
        return resolve(self.default if self.default is not None else self.config.agent_model)

    def listing(self, pattern: str | None = None) -> list[ScopeEntry]:
        """One entry per agent: the running ones, then the most recent first, so a listing cut to the
        output limit keeps the agents a model still cares about."""
        handles = sorted(reversed(list(self.handles)), key=lambda h: h.status != "running")
        return [
            ScopeEntry(name=h.name, type="AgentHandle", summary=h.summary())
            for h in handles
            if not pattern or fnmatch.fnmatchcase(h.name, pattern)
        ]

    def unused_name(self) -> str:
        """The next `agent_N` that no agent of the kernel has (the MCP tool names agents too)."""
        taken = {handle.name for handle in self.handles}
        while (name := f"agent_{next(self._numbers)}") in taken:
            pass
        return name

    def start(self, runner: Runner) -> None:
        """List the runner's agent and start it; it is forgotten here once its thread ends."""
        handle = runner.handle
        with self._lock:
            self.handles.append(handle)
            handle.serial = len(self.handles)
            self._running.add(runner)
        handle.observer = self._log.write
        handle.changed()
        runner.start(self._ended)

    def _ended(self, runner: Runner) -> None:
        with self._lock:
            self._running.discard(runner)

    def stop(self, grace: float = EXIT_GRACE) -> None:
        """Cancel the agents still running and wait up to `grace` seconds in all for their threads."""
        with self._lock:
            running = list(self._running)
        for runner in running:
            runner.handle.cancel()
        deadline = time.monotonic() + grace
        for runner in running:
            runner.join(max(0.0, deadline - time.monotonic()))
