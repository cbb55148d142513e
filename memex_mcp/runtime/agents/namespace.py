"""An agent's namespace and how its code runs there.

The namespace must be a real dict: functions defined in agent code keep it as `__globals__`, and
CPython reads globals with dict lookups. It holds a shallow copy of the parent's names (the same
objects, so identity holds, and class bodies, which read globals with a plain dict lookup, see
them), brought up to date before each block of agent code runs; in between, a name the parent
binds is found through `__missing__`. Assignments in the agent land in its own dict and never
rebind the parent's names; a name the agent assigned stays the agent's.
"""

from __future__ import annotations

import ast
import linecache
from collections.abc import Mapping
from typing import Any

from memex_mcp.runtime.cells.tracebacks import trimmed

_ABSENT = object()


class AgentNamespace(dict[str, Any]):
    def __init__(self, parent: Mapping[str, Any], own: Mapping[str, Any]) -> None:
        super().__init__(parent)
        #: The parent's objects as last copied: a name still bound to its copy is not the agent's own.
        self._copied = dict(parent)
        self.update(own)
        self._parent = parent

    def __missing__(self, key: str) -> Any:
        return self._parent[key]

    def refresh(self) -> None:
        """Copy what the parent rebound since, except names the agent bound itself."""
        copied = self._copied
        for key, value in list(self._parent.items()):
            old = copied.get(key, _ABSENT)
            if old is value:
                continue
            mine = self.get(key, _ABSENT)
            if mine is old or (old is _ABSENT and mine is _ABSENT):
                self[key] = value
                copied[key] = value


class Signal(BaseException):
    """Ends agent code in a way `except Exception` cannot swallow."""


def run_block(code: str, namespace: dict[str, Any], filename: str, prefix: str) -> str | None:
    """Run `code` as a notebook cell would (the last expression's value is printed).

    Returns a short traceback if it raised (as a cell's: the frames of files named `prefix…`, this
    agent's code of all turns, and the same hints); `Signal`s propagate.
    """
    lines = code.splitlines(keepends=True)
    # Registered so tracebacks and `inspect.getsource` can show the agent's code.
    linecache.cache[filename] = (len(code), None, lines, filename)
    try:
        tree = ast.parse(code, filename)
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        exec(compile(tree, filename, "exec"), namespace)
        if isinstance(last, ast.Expr):
            value = eval(compile(ast.Expression(last.value), filename, "eval"), namespace)
            if value is not None:
                print(repr(value))
    except Signal:
        raise
    except BaseException as error:  # SystemExit and friends are the code's problem, not the agent's end
        return trimmed(error, lambda filename: _turn(filename, prefix))
    return None


def _turn(filename: str, prefix: str) -> str | None:
    """`turn 3` for the file `<name turn 3>` of this agent's code (prefix `<name turn `)."""
    return "turn " + filename[len(prefix) :].rstrip(">") if filename.startswith(prefix) else None
