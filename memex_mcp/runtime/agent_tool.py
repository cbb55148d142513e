"""The kernel side of the MCP tool `spawn_agent`: check the arguments, start the agent, bind its handle.

The tool is eager: the agent runs in its own thread after this returns, and the model reads its
result later from code (`agent_1.result()`). It runs on a kernel subshell, also while a cell runs:
the agent's inputs are the objects bound to those names at that instant.
"""

from __future__ import annotations

import keyword
from collections.abc import Mapping
from typing import Any

from memex_mcp.jsonschemas import jsonschema as load_jsonschema
from memex_mcp.runtime import agents
from memex_mcp.runtime.models.base import ModelError
from memex_mcp.runtime.scope import is_user_variable, list_scope

_DEFAULT_PREFIX = "agent_"
_MISSING = object()
_LISTED = 40


class SpawnError(Exception):
    """The tool call cannot start an agent; the message says what to fix."""


def spawn_for_tool(
    kernel_agents: agents.Agents,
    namespace: dict[str, Any],
    hidden: Mapping[str, Any],
    task: str,
    inputs: list[str] | None = None,
    output_schema: dict[str, Any] | None = None,
    name: str | None = None,
) -> str:
    """Start an agent as `spawn_agent(task, inputs, returns=output_schema)` from a cell would, bind
    its handle to `name` (default: the first unused `agent_N`) and return that name."""
    variable = _variable(kernel_agents, namespace, hidden, name)
    # The variables list_scope shows, so that the error's list is exactly what would have worked.
    missing = [
        n for n in inputs or [] if (v := namespace.get(n, _MISSING)) is _MISSING or not is_user_variable(n, v, hidden)
    ]
    if missing:
        raise SpawnError(
            f"inputs names {_names(missing)}, which {'is' if len(missing) == 1 else 'are'} not "
            f"among your variables. Variables that exist: {_existing(namespace, hidden)}."
        )
    if output_schema is not None:
        _check_schema(output_schema)
    spawn = agents.bind(kernel_agents, namespace)["spawn_agent"]
    try:
        handle = spawn(task, inputs=inputs, returns=output_schema, name=variable)
    except (ModelError, ValueError, TypeError, NameError, agents.AgentDepthError) as exc:
        raise SpawnError(str(exc)) from None
    namespace[variable] = handle
    return variable


def _variable(
    kernel_agents: agents.Agents, namespace: Mapping[str, Any], hidden: Mapping[str, Any], name: str | None
) -> str:
    if name is None:
        # Nor the name of another agent of the kernel: list_scope lists agents by name.
        taken = set(namespace) | {handle.name for handle in kernel_agents.handles}
        n = 1
        while f"{_DEFAULT_PREFIX}{n}" in taken:
            n += 1
        return f"{_DEFAULT_PREFIX}{n}"
    if not name.isidentifier() or keyword.iskeyword(name):
        raise SpawnError(
            f"name {name!r} is not a Python variable name; use letters, digits and _, "
            "e.g. 'summarizer_1', or leave it out."
        )
    existing = namespace.get(name, _MISSING)
    if existing is not _MISSING and hidden.get(name, _MISSING) is existing:
        raise SpawnError(f"name {name!r} is a preloaded name of the scratchpad; choose another.")
    if existing is not _MISSING and not isinstance(existing, agents.AgentHandle):
        raise SpawnError(
            f"The variable {name!r} already holds a {type(existing).__name__}; choose another name or leave it out."
        )
    return name


def _check_schema(schema: dict[str, Any]) -> None:
    jsonschema = load_jsonschema()  # on first use: it slows kernel start

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise SpawnError(
            f"output_schema is not a valid JSON Schema: {exc.message}. "
            'Give one like {"type": "object", "properties": {"total": {"type": "number"}}}.'
        ) from None


def _existing(namespace: Mapping[str, Any], hidden: Mapping[str, Any]) -> str:
    names = sorted(e.name for e in list_scope(namespace, hidden, None).variables)
    if not names:
        return "none yet (create them with execute_code first)"
    more = f" and {len(names) - _LISTED} more" if len(names) > _LISTED else ""
    return _names(names[:_LISTED]) + more


def _names(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)
