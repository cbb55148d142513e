"""`__memex__`: the server calls the runtime through user expressions of a silent execute request.

Silent requests fire no cell hooks and do not count as executions, so they leave `history` alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from memex_mcp.protocol import RpcError, RpcOk, ScopeListing
from memex_mcp.runtime.agent_tool import SpawnError, spawn_for_tool
from memex_mcp.runtime.agents import AgentHandle, Agents
from memex_mcp.runtime.scope import list_scope
from memex_mcp.runtime.submit import Submissions, SubmitError


class JsonReply:
    """Formats as `application/json` in the user-expression reply."""

    def __init__(self, reply: BaseModel) -> None:
        self._reply = reply

    def _repr_json_(self) -> Any:
        return self._reply.model_dump(mode="json")


class Rpc:
    def __init__(
        self, namespace: dict[str, Any], hidden: dict[str, Any], submissions: Submissions, agents: Agents
    ) -> None:
        self._ns = namespace
        self._hidden = hidden
        self._submissions = submissions
        self._agents = agents
        self._methods: dict[str, Callable[..., Any]] = {
            "scope": self.scope,
            "submit": self.submit,
            "configure": self.configure,
            "spawn_agent": self.spawn_agent,
        }

    def register(self, method: str, function: Callable[..., Any]) -> None:
        """Make `function` callable by the server as `method` (its result must be JSON-able)."""
        self._methods[method] = function

    def __call__(self, method: str, arguments: str) -> JsonReply:
        try:
            result = self._methods[method](**json.loads(arguments))
        except (SubmitError, SpawnError) as exc:
            return JsonReply(RpcError(message=str(exc)))
        return JsonReply(RpcOk(result=result))

    def scope(self, pattern: str | None = None) -> Any:
        # A handle bound to a variable is listed once, among the agents, under the agent's name.
        plain = {k: v for k, v in self._ns.items() if not isinstance(v, AgentHandle)}
        listing: ScopeListing = list_scope(plain, self._hidden, pattern)
        listing = listing.model_copy(update={"agents": self._agents.listing(pattern)})
        return listing.model_dump(mode="json")

    def submit(self, value: Any = None, variable: str | None = None, schema: Any = None) -> Any:
        return self._submissions.submit(value, variable, schema, origin="tool")

    def spawn_agent(
        self,
        task: str,
        inputs: list[str] | None = None,
        output_schema: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> str:
        """Start a sub-agent for the MCP tool; returns the variable its handle is bound to."""
        return spawn_for_tool(self._agents, self._ns, self._hidden, task, inputs, output_schema, name)

    def configure(self, answer_schema: Any = None) -> None:
        self._submissions.answer_schema = answer_schema
