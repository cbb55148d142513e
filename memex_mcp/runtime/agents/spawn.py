"""`spawn_agent` and `gather` as the kernel's code calls them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from memex_mcp.protocol import ScopeEntry
from memex_mcp.runtime.agents.handle import AgentFailed, AgentHandle
from memex_mcp.runtime.agents.namespace import AgentNamespace
from memex_mcp.runtime.agents.prompt import system_prompt
from memex_mcp.runtime.agents.registry import Agents
from memex_mcp.runtime.agents.returns import Contract
from memex_mcp.runtime.agents.runner import Runner
from memex_mcp.runtime.agents.waiting import wait_for
from memex_mcp.runtime.models import Model, resolve
from memex_mcp.runtime.scope import describe

#: Agents started by agents started by agents: no deeper.
MAX_DEPTH = 3


class AgentDepthError(RuntimeError):
    pass


#: The arguments the kernel's `spawn_agent` takes, as its error for an unknown one lists them.
SPAWN_ARGUMENTS = ("task", "inputs", "returns", "output_schema", "name", "model", "max_turns", "timeout")


def bind(
    agents: Agents, namespace: dict[str, Any], depth: int = 0, parent: AgentHandle | None = None
) -> dict[str, Any]:
    """The agent names of the prelude for code running in `namespace`, `depth` agents deep (0: cells),
    whose agents are listed in `agents`."""

    def spawn_agent(
        task: str,
        inputs: Sequence[str] | Mapping[str, Any] | None = None,
        returns: Any = None,
        name: str | None = None,
        model: Model | str | None = None,
        max_turns: int = 20,
        timeout: float | None = None,
        output_schema: dict[str, Any] | None = None,
        **unknown: Any,
    ) -> AgentHandle:
        """Start a sub-agent and return its handle at once (bind it yourself: h = spawn_agent(...)).

        `inputs`: names of your variables it is told about, or a dict name → object. It can read
        all your variables (the same objects) and writes only its own. `returns`: a type (int,
        list[str]), a pydantic model, a dataclass or a JSON Schema dict its answer must match
        (`output_schema=`, as the MCP tool calls it, is the same). `model`: 'openai:<model>',
        'anthropic:<model>', 'sampling' or a Model (default: the server's --agent-model); one that
        cannot work fails here. `timeout`: wall-clock seconds (default: the server's).
        h.result() waits for the answer; gather(*handles) for several.
        """
        if unknown:
            which = "an unexpected argument" if len(unknown) == 1 else "unexpected arguments"
            raise TypeError(f"spawn_agent() got {which} {_names(unknown)}; it takes {', '.join(SPAWN_ARGUMENTS)}.")
        if output_schema is not None:
            if returns is not None:
                raise TypeError("spawn_agent() takes returns= or output_schema= (the same thing), not both.")
            returns = output_schema
        return _spawn(agents, namespace, depth + 1, parent, task, inputs, returns, name, model, max_turns, timeout)

    return {"spawn_agent": spawn_agent, "gather": gather, "AgentFailed": AgentFailed}


def gather(*handles: AgentHandle | Sequence[AgentHandle], timeout: float | None = None) -> list[Any]:
    """The results of `handles`, in order, once all have finished. Raises AgentFailed naming the
    agents that failed; TimeoutError after `timeout` seconds (the agents keep running)."""
    items: list[Any] = list(handles[0]) if len(handles) == 1 and isinstance(handles[0], list | tuple) else list(handles)
    wrong = [repr(h)[:60] for h in items if not isinstance(h, AgentHandle)]
    if wrong:
        raise TypeError(f"gather takes agent handles (from spawn_agent), not {', '.join(wrong)}")
    wait_for(items, timeout)
    failed = [h for h in items if h.status != "done"]
    if failed:
        reasons = "; ".join(f"{h.name} {h.status}: {h.reason}" for h in failed)
        raise AgentFailed(f"{len(failed)} of {len(items)} agents did not finish: {reasons}", failed)
    return [h._outcome() for h in items]


def _spawn(
    agents: Agents,
    namespace: dict[str, Any],
    depth: int,
    parent: AgentHandle | None,
    task: str,
    inputs: Sequence[str] | Mapping[str, Any] | None,
    returns: Any,
    name: str | None,
    model: Model | str | None,
    max_turns: int,
    timeout: float | None,
) -> AgentHandle:
    if depth > MAX_DEPTH:
        raise AgentDepthError(
            f"Agents nest at most {MAX_DEPTH} deep, and this one is at depth {MAX_DEPTH}: "
            "it cannot start another. Do this part of the work in code here."
        )
    if not isinstance(task, str) or not task.strip():
        raise ValueError("task must be a non-empty string that says what the agent must do and return.")
    if not isinstance(max_turns, int) or max_turns < 1:
        raise ValueError("max_turns must be a positive integer.")
    own, described = _inputs(namespace, inputs)
    own.setdefault("db", _own_cursor(namespace.get("db")))
    contract = Contract(returns)
    chosen = resolve(model) if model is not None else agents.default_model()
    settings = agents.config
    seconds = settings.agent_timeout if timeout is None else float(timeout)
    if seconds <= 0:
        raise ValueError("timeout must be a positive number of seconds.")
    handle = AgentHandle(name or agents.unused_name(), task, depth, max_turns)
    scope = AgentNamespace(namespace, own)
    system = system_prompt(handle.name, described, contract.describe(), max_turns)
    runner = Runner(handle, chosen, contract, scope, system, agents.limits, settings.output_limit, seconds)
    scope.update(bind(agents, scope, depth, handle))
    scope["submit"] = runner.submit
    scope["history"] = runner.history
    handle.parent, handle.model_name = parent, str(getattr(chosen, "name", type(chosen).__name__))
    handle.inputs = [e.name for e in described]
    if parent is not None:
        parent.children.append(handle)
    agents.start(runner)
    return handle


def _own_cursor(db: Any) -> Any:
    """A DuckDB connection runs one query at a time: agents query in parallel, so each gets a
    cursor of its own (same database, same views). Anything else (no connection yet) is shared."""
    if type(db).__module__.split(".")[0] in ("duckdb", "_duckdb"):
        return db.cursor()
    return db


def _inputs(
    namespace: Mapping[str, Any], inputs: Sequence[str] | Mapping[str, Any] | None
) -> tuple[dict[str, Any], list[ScopeEntry]]:
    """The objects handed over by name → object, and the one-line summaries the agent is told."""
    if inputs is None:
        return {}, []
    if isinstance(inputs, Mapping):
        own = {str(k): v for k, v in inputs.items()}
        return own, [describe(k, v) for k, v in own.items()]
    if isinstance(inputs, str):
        raise TypeError(f"inputs is a list of variable names, e.g. inputs=[{inputs!r}].")
    described = []
    for key in inputs:
        try:
            value = namespace[key]
        except KeyError:
            raise NameError(f"inputs names {key!r}, but there is no variable {key!r} here.") from None
        described.append(describe(key, value))
    return {}, described


def _names(names: Mapping[str, Any]) -> str:
    return ", ".join(f"{n!r}" for n in names)
