"""`list_scope`: one short line per user variable, cheap even for huge objects."""

from __future__ import annotations

import fnmatch
import inspect
import reprlib
import sys
import types
from collections.abc import Mapping
from typing import Any

from memex_mcp.protocol import ScopeEntry, ScopeListing

_PREVIEW = 80
_MISSING = object()
_MAX_ITEMS_SIZED = 1_000_000

_repr = reprlib.Repr()
_repr.maxstring = _PREVIEW
_repr.maxother = _PREVIEW
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxdict = 8
_repr.maxlevel = 3


def list_scope(namespace: Mapping[str, Any], hidden: Mapping[str, Any], pattern: str | None) -> ScopeListing:
    """User variables: not `_private`, not modules, not preloaded (unless the user rebound the name)."""
    entries = []
    for name, value in list(namespace.items()):
        if name.startswith("_") or hidden.get(name, _MISSING) is value or isinstance(value, types.ModuleType):
            continue
        if pattern and not fnmatch.fnmatchcase(name, pattern):
            continue
        entries.append(describe(name, value))
    return ScopeListing(variables=entries)


def describe(name: str, value: Any) -> ScopeEntry:
    kind = type(value)
    type_name = kind.__name__ if kind.__module__ in ("builtins", "__main__") else kind.__qualname__
    return ScopeEntry(name=name, type=type_name, summary=_summary(value), size_bytes=size_bytes(value))


def render(listing: ScopeListing) -> str:
    rows = listing.variables + listing.agents
    if not rows:
        return "The scope is empty."
    width = min(max(len(e.name) for e in rows), 24)
    lines = []
    for e in rows:
        size = f" ({_human(e.size_bytes)})" if e.size_bytes is not None else ""
        lines.append(f"{e.name:<{width}}  {e.type}{size}  {e.summary}")
    return "\n".join(lines)


def _summary(value: Any) -> str:
    if isinstance(value, types.FunctionType | type):
        return _signature(value)
    shape = _shape(value)
    try:
        preview = _repr.repr(value)
    except Exception as exc:  # a broken __repr__ must not break the listing
        preview = f"<repr failed: {type(exc).__name__}>"
    preview = " ".join(preview.split())
    if len(preview) > _PREVIEW:
        preview = preview[: _PREVIEW - 1] + "…"
    return f"{shape}: {preview}" if shape else preview


def _signature(value: Any) -> str:
    try:
        signature = str(inspect.signature(value))
    except (TypeError, ValueError):
        signature = "(…)"
    doc = (inspect.getdoc(value) or "").strip().splitlines()
    text = f"{value.__name__}{signature}" + (f": {doc[0]}" if doc else "")
    return text if len(text) <= _PREVIEW else text[: _PREVIEW - 1] + "…"


def _shape(value: Any) -> str:
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple) and all(isinstance(n, int) for n in shape):
        return "×".join(f"{n:,}" for n in shape)
    if isinstance(value, str | bytes | bytearray | list | tuple | dict | set | frozenset):
        return f"len {len(value):,}"
    return ""


def size_bytes(value: Any) -> int | None:
    """Bytes held by the object where that is known without walking it deeply."""
    nbytes = getattr(value, "nbytes", None)  # numpy, pyarrow
    if isinstance(nbytes, int):
        return nbytes
    memory_usage = getattr(value, "memory_usage", None)  # pandas
    if callable(memory_usage) and hasattr(value, "columns"):
        try:
            return int(memory_usage(index=True, deep=False).sum())
        except Exception:
            return None
    if isinstance(value, str | bytes | bytearray | int | float | complex | bool):
        return sys.getsizeof(value)
    if isinstance(value, list | tuple | set | frozenset) and len(value) <= _MAX_ITEMS_SIZED:
        return sys.getsizeof(value) + sum(sys.getsizeof(v) for v in value)
    if isinstance(value, dict) and len(value) <= _MAX_ITEMS_SIZED:
        return sys.getsizeof(value) + sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in value.items())
    return None


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")
