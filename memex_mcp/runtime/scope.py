"""`list_scope`: one short line per user variable, cheap even for huge or hostile objects.

Every look at a user's object (its size, shape, columns, repr, signature) may run the user's code.
Each look is isolated: one that raises leaves a note in that object's line and the listing goes
on. Each object gets at most `PER_OBJECT` seconds, and once the listing has taken `TOTAL` seconds
the remaining objects are listed by name and type only.

The server lists the scope from a kernel subshell, a thread beside the main one, so that it
answers while a cell runs. What it sees then: the names bound at one instant (`snapshot`), each
with the value bound at that instant; a value the running cell is changing in place (a list being
appended to, a DataFrame being filled) is described as it is when its preview runs, which may be
half-way through the change. On the main thread, a slow preview is stopped by a signal; off it no
signal can stop code, so each preview runs on a worker thread and the listing waits for it at most
`PER_OBJECT` seconds: a preview stuck in a user's `__repr__` is left running there until that
returns (its CPU time and whatever it does are not bounded), and the listing goes on without it.
"""

from __future__ import annotations

import fnmatch
import inspect
import itertools
import queue
import reprlib
import sys
import threading
import time
import types
from collections.abc import Mapping
from typing import Any

from memex_mcp.protocol import ScopeEntry, ScopeListing
from memex_mcp.runtime.deadline import Overrun, can_limit, time_limit
from memex_mcp.runtime.touchpoints import start_own_thread
from memex_mcp.text import shorten

#: Seconds one object's summary and size may take.
PER_OBJECT = 1.0
#: Seconds after which the listing stops looking inside objects.
TOTAL = 5.0

_PREVIEW = 80
_MISSING = object()
_MAX_ITEMS_SIZED = 1_000_000
#: Copies of a namespace tried while another thread keeps changing its size.
_SNAPSHOT_TRIES = 100

_repr = reprlib.Repr()
_repr.maxstring = _PREVIEW
_repr.maxother = _PREVIEW
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxdict = 8
_repr.maxlevel = 3


def is_user_variable(name: str, value: Any, preloaded: Mapping[str, Any], *, modules: bool = False) -> bool:
    """Whether `name`, bound to `value`, is one of the user's variables: not a `_private` name, not
    the object the prelude bound to that name (a preloaded name the user rebinds, `db = 5`, is
    theirs), and not a module (an import, not a value) unless `modules`."""
    if name.startswith("_") or preloaded.get(name, _MISSING) is value:
        return False
    try:
        return modules or not isinstance(value, types.ModuleType)
    except Exception:  # an object whose __class__ raises is still the user's
        return True


def user_variables(
    namespace: Mapping[str, Any], preloaded: Mapping[str, Any], *, modules: bool = False
) -> dict[str, Any]:
    """The user's variables of `namespace` (see `is_user_variable`), in the order they were bound."""
    return {
        name: value for name, value in snapshot(namespace) if is_user_variable(name, value, preloaded, modules=modules)
    }


def snapshot(namespace: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The items of `namespace` as of one instant, also while another thread (a running cell) binds
    and deletes names: a copy that the change interrupted ("dictionary changed size") is taken
    again. The values are the objects themselves, not copies."""
    for _ in range(_SNAPSHOT_TRIES):
        try:
            return list(namespace.items())
        except RuntimeError:
            continue
    return list(namespace.items())  # changing faster than it can be copied: say so, as Python does


def list_scope(namespace: Mapping[str, Any], hidden: Mapping[str, Any], pattern: str | None) -> ScopeListing:
    """The user variables of `namespace` (see `is_user_variable`; `hidden`: what the prelude bound)."""
    names = list(user_variables(namespace, hidden).items())
    started = time.monotonic()
    entries = []
    with _Previews() as previews:
        for name, value in names:
            if pattern and not fnmatch.fnmatchcase(name, pattern):
                continue
            if time.monotonic() - started > TOTAL:
                entries.append(
                    ScopeEntry(
                        name=name, type=type_name(value), summary=f"<not previewed: the listing took over {TOTAL:g} s>"
                    )
                )
            else:
                entries.append(previews.describe(name, value))
    return ScopeListing(variables=entries, in_scope=len(names))


class _Previews:
    """`describe`, each object within `PER_OBJECT` seconds on whichever thread lists the scope.

    On the main thread that is `describe`'s own signal. Elsewhere each preview runs on a worker
    thread, waited for at most `PER_OBJECT` seconds; a worker still inside a preview then is left to
    finish it alone (it stops after that one), and the next object gets a new worker."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[str, Any, queue.SimpleQueue[ScopeEntry]] | None] | None = None

    def __enter__(self) -> _Previews:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._jobs is not None:
            self._jobs.put(None)

    def describe(self, name: str, value: Any) -> ScopeEntry:
        if can_limit():
            return describe(name, value)
        if self._jobs is None:
            self._jobs = queue.SimpleQueue()
            start_own_thread(threading.Thread(target=_preview, args=(self._jobs,), name="memex-preview", daemon=True))
        done: queue.SimpleQueue[ScopeEntry] = queue.SimpleQueue()
        self._jobs.put((name, value, done))
        try:
            return done.get(timeout=PER_OBJECT)
        except queue.Empty:
            self._jobs.put(None)  # taken once the stuck preview returns: that worker ends there
            self._jobs = None
            return ScopeEntry(name=name, type=type_name(value), summary=f"<preview took over {PER_OBJECT:g} s>")


def _preview(jobs: queue.SimpleQueue[tuple[str, Any, queue.SimpleQueue[ScopeEntry]] | None]) -> None:
    while (job := jobs.get()) is not None:
        name, value, done = job
        done.put(describe(name, value))


def describe(name: str, value: Any, seconds: float = PER_OBJECT) -> ScopeEntry:
    """One object's entry; never raises, and on the main thread takes at most about `seconds`."""
    summary: str | None = None
    size: int | None = None
    try:
        with time_limit(seconds):
            summary = _guarded(_summary, value, "preview")
            size = size_bytes(value)
    except Overrun:
        summary = summary or f"<preview took over {seconds:g} s>"
    return ScopeEntry(name=name, type=type_name(value), summary=summary, size_bytes=size)


def type_name(value: Any) -> str:
    kind = type(value)
    return kind.__name__ if kind.__module__ in ("builtins", "__main__") else kind.__qualname__


def size_bytes(value: Any) -> int | None:
    """Bytes held by the object where that is known without walking it deeply; None when unknown
    or when asking the object fails."""
    try:
        return _size(value)
    except Exception:
        return None


def _guarded(probe: Any, value: Any, what: str) -> str:
    try:
        text: str = probe(value)
    except Exception as exc:
        return f"<{what} failed: {type(exc).__name__}: {shorten(str(exc), 40)}>"
    return text


def _summary(value: Any) -> str:
    if isinstance(value, types.FunctionType | types.BuiltinFunctionType | type):
        return _signature(value)
    if (table := _table(value)) is not None:
        return table
    if (series := _series(value)) is not None:
        return series
    shape = _shape(value)
    preview = shorten(" ".join(_guarded(_repr.repr, value, "repr").split()), _PREVIEW)
    return f"{shape}: {preview}" if shape else preview


def _table(value: Any) -> str | None:
    """Tables by their shape and column names: their repr is rows squashed into one line."""
    columns = attr_or_none(value, "columns")
    if columns is None:
        columns = attr_or_none(value, "column_names")  # pyarrow
    if columns is None or isinstance(columns, str) or not hasattr(columns, "__iter__"):
        return None
    names = ", ".join(str(c) for c in itertools.islice(columns, 40))
    if is_duckdb(value):
        return shorten(f"SQL relation; columns: {names}", _PREVIEW)  # its shape and repr run the query
    shape = _shape(value)
    return shorten(f"{shape}; columns: {names}" if shape else f"columns: {names}", _PREVIEW)


def _series(value: Any) -> str | None:
    """A pandas or polars Series by its length, dtype, name and first values."""
    shape, head = attr_or_none(value, "shape"), attr_or_none(value, "head")
    if not (isinstance(shape, tuple) and len(shape) == 1 and callable(head) and attr_or_none(value, "dtype")):
        return None
    name = attr_or_none(value, "name")
    first = _guarded(lambda v: _repr.repr(head(8).to_list()), value, "preview")
    if shape[0] > 8 and first.endswith("]"):
        first = first[:-1] + ", …]"
    return shorten(f"{_shape(value)}" + (f" {name!r}" if name is not None else "") + f": {first}", _PREVIEW)


def _signature(value: Any) -> str:
    try:
        signature = str(inspect.signature(value))
    except Exception:
        signature = "(…)"
    doc = (inspect.getdoc(value) or "").strip().splitlines()
    return shorten(f"{getattr(value, '__name__', '?')}{signature}" + (f": {doc[0]}" if doc else ""), _PREVIEW)


def _shape(value: Any) -> str:
    shape = attr_or_none(value, "shape")
    if isinstance(shape, tuple) and all(isinstance(n, int) for n in shape):
        dtype = attr_or_none(value, "dtype")
        kind = f" {dtype}" if dtype is not None and len(shape) >= 1 else ""
        return "×".join(f"{n:,}" for n in shape) + shorten(kind, 24)
    if isinstance(value, str | bytes | bytearray | list | tuple | dict | set | frozenset):
        return f"len {len(value):,}"
    return ""


def _size(value: Any) -> int | None:
    if is_duckdb(value):
        return None  # a relation looks up an unknown attribute as a column, on its connection
    nbytes = attr_or_none(value, "nbytes")  # numpy, pyarrow
    if isinstance(nbytes, int):
        return nbytes
    memory_usage = attr_or_none(value, "memory_usage")  # pandas
    if callable(memory_usage) and attr_or_none(value, "columns") is not None:
        return int(memory_usage(index=True, deep=False).sum())
    if isinstance(value, str | bytes | bytearray | int | float | complex | bool):
        return sys.getsizeof(value)
    if isinstance(value, list | tuple | set | frozenset) and len(value) <= _MAX_ITEMS_SIZED:
        return sys.getsizeof(value) + sum(sys.getsizeof(v) for v in value)
    if isinstance(value, dict) and len(value) <= _MAX_ITEMS_SIZED:
        return sys.getsizeof(value) + sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in value.items())
    return None


def is_duckdb(value: Any) -> bool:
    """A DuckDB connection or relation: most of its attributes run SQL on a connection a cell may
    be using."""
    return type(value).__module__.lstrip("_").startswith("duckdb")


def attr_or_none(value: Any, name: str) -> Any:
    """`getattr(value, name, None)` for objects whose lookup raises something else than
    AttributeError (a dict whose `__getattr__` is `__getitem__` raises KeyError)."""
    try:
        return getattr(value, name, None)
    except Exception:
        return None
