"""`__memex__`: the server calls the runtime through user expressions of a silent execute request.

Silent requests fire no cell hooks and do not count as executions, so they leave `history` alone.
The server sends the tools' calls (`list_scope`, `submit`, `spawn_agent`) to a kernel subshell, so
their handlers run on a thread of their own while the main thread may be running a cell: they read
the namespace through `scope.snapshot` and never assume it holds still.
Each call is one request model of `memex_mcp.protocol` as JSON; it is dispatched by its type and
answered with that request's reply model. A refusal (the model asked for something it cannot
have) is answered as an `RpcError`; anything else that goes wrong raises, and the server reports
it as its own failure.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from memex_mcp.protocol import (
    REQUESTS,
    Configured,
    ConfigureRequest,
    RpcError,
    RpcOk,
    RuntimeCall,
    ScopeListing,
    ScopeRequest,
    SpawnAgentRequest,
    SpawnedAgent,
    SubmitReceipt,
    SubmitRequest,
)
from memex_mcp.runtime.agent_tool import SpawnError, spawn_for_tool
from memex_mcp.runtime.agents import AgentHandle, Agents
from memex_mcp.runtime.scope import list_scope, snapshot
from memex_mcp.runtime.submit import Submissions, SubmitError

Handler = Callable[[Any], BaseModel]

#: What the runtime refuses with a message for the model; every other exception is memex's fault.
_REFUSALS = (SubmitError, SpawnError)


class UnknownMethod(LookupError):
    """The server asked for a method this runtime does not have: the two are of different versions."""


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
        self._handlers: dict[type[RuntimeCall[Any]], Handler] = {
            ScopeRequest: self.scope,
            SubmitRequest: self.submit,
            ConfigureRequest: self.configure,
            SpawnAgentRequest: self.spawn_agent,
        }

    def register(self, method: str, function: Callable[..., Any]) -> None:
        """Make `function` answer `method`, one of `protocol.REQUESTS`: it is called with the request's
        fields as keyword arguments, and what it returns must validate as the method's reply model."""
        kind = REQUESTS[method]
        self._handlers[kind] = lambda request: kind.reply.model_validate(function(**request.arguments()))

    def __call__(self, request: str) -> JsonReply:
        """Answer one request (its JSON); a refusal is an `RpcError`, any other failure raises."""
        data = json.loads(request)
        method = data.get("method") if isinstance(data, dict) else None
        kind = REQUESTS.get(method) if isinstance(method, str) else None
        if kind is None or kind not in self._handlers:
            raise UnknownMethod(f"this runtime has no method {method!r}")
        call = kind.model_validate(data)
        try:
            reply = kind.reply.model_validate(self._handlers[kind](call))
        except _REFUSALS as exc:
            return JsonReply(RpcError(message=str(exc)))
        return JsonReply(RpcOk(result=reply.model_dump(mode="json")))

    def scope(self, request: ScopeRequest) -> ScopeListing:
        # A handle bound to a variable is listed once, among the agents, under the agent's name.
        plain = {k: v for k, v in snapshot(self._ns) if not isinstance(v, AgentHandle)}
        listing = list_scope(plain, self._hidden, request.pattern)
        return listing.model_copy(update={"agents": self._agents.listing(request.pattern)})

    def submit(self, request: SubmitRequest) -> SubmitReceipt:
        return self._submissions.submit(request.value, request.variable, request.json_schema, origin="tool")

    def spawn_agent(self, request: SpawnAgentRequest) -> SpawnedAgent:
        """Start a sub-agent for the MCP tool; the reply names the variable its handle is bound to."""
        variable = spawn_for_tool(
            self._agents, self._ns, self._hidden, request.task, request.inputs, request.output_schema, request.name
        )
        return SpawnedAgent(variable=variable)

    def configure(self, request: ConfigureRequest) -> Configured:
        self._submissions.answer_schema = request.answer_schema
        if request.probe is None or Path(request.probe).name != request.probe:
            return Configured()
        from memex_mcp.runtime.runtime import current

        return Configured(sees_probe=(Path(current().config.session_dir) / request.probe).is_file())
