"""What one value is to the checkpoint: how it is pickled, whether it can come back, how big it is.

Values reference each other, prelude objects (`db`, `history`) and other variables by name (pickle
persistent ids): `f` that reads `df` does not carry a copy of `df`, and after a restore
`b['k'] is a` still holds. Open files and other OS handles are pickled by `handles`.

Every look at a user's object (its size, its plain pickle) is guarded here: an object whose
attribute lookup or `__reduce__` raises anything is reported, never lets the exception out.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import pickle
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cloudpickle  # type: ignore[import-untyped]

from memex_mcp.runtime.checkpoint.handles import NotRestorable, reduce_handle
from memex_mcp.runtime.scope import size_bytes
from memex_mcp.text import shorten

#: Values estimated above this (or of unknown size) are pickled straight into their file, not in memory.
INLINE = 4 * 2**20
#: Values whose pickle is at most this big are probed after every cell (see `plain_crc`).
RECHECK = 256 * 2**10
#: Values whose pickling took longer than this are not probed after cells: the probe would cost as much.
QUICK = 0.05
#: Values never referred to by name: copying them is as cheap as naming them.
ATOMS = (str, bytes, int, float, complex, bool, type(None))

#: A persistent id: ("prelude", name) or ("var", name).
Refs = dict[int, tuple[str, str]]


class Pickler(cloudpickle.CloudPickler):  # type: ignore[misc]
    """cloudpickle, with every object in `refs` (except `top`, the value itself) saved by name."""

    def __init__(self, file: Any, refs: Refs, top: Any) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._refs = refs
        self._top = top

    def persistent_id(self, obj: Any) -> tuple[str, str] | None:
        if obj is self._top:
            return None
        return self._refs.get(id(obj))

    def reducer_override(self, obj: Any) -> Any:
        handle = reduce_handle(obj)
        return handle if handle is not None else super().reducer_override(obj)


def unpicklable_reason(value: Any, exc: Exception) -> str:
    """Why pickling `value` failed, as the restore report says it."""
    if isinstance(exc, NotRestorable):
        return exc.reason if exc.obj is value else f"it holds {exc.reason}"
    return f"not picklable ({say(exc)})"


def changed_while_pickled(exc: Exception) -> bool:
    """A sub-agent's thread changed the value while it was pickled: keep the last version, try again."""
    return isinstance(exc, RuntimeError) and "changed size during iteration" in str(exc)


def estimate_size(value: Any) -> int | None:
    """Bytes the value holds where that is known cheaply; None when unknown or when asking raised."""
    if isinstance(value, list | tuple | dict | set | frozenset) and len(value) > 100_000:
        return None  # size_bytes would visit every item
    try:
        with quiet():
            return size_bytes(value)
    except Exception:  # an object whose attribute lookup raises something else than AttributeError
        return None


def length(value: Any) -> int | None:
    """len() of a built-in container (a cheap first check before the probe); None for other types."""
    return len(value) if type(value) in (list, dict, set, tuple, bytearray) else None


def not_restorable(value: Any) -> str | None:
    """Objects that pickling cannot bring back in a useful state, with what to do instead."""
    module = type(value).__module__.split(".")[0]
    if module == "duckdb":
        return "a DuckDB object: tables persist in the session database; re-run the query"
    if type(value).__name__ == "AgentHandle":
        return "a sub-agent handle: agents do not survive their kernel"
    return None


def parquet_writer(value: Any) -> tuple[Any, Callable[[Path], None]] | None:
    """(format, write(path)) for a DataFrame or an Arrow table; None for anything else."""
    module = type(value).__module__.split(".")[0]
    if module == "pandas" and type(value).__name__ == "DataFrame":
        return "parquet-pandas", lambda path: value.to_parquet(path)
    if module == "pyarrow" and type(value).__name__ == "Table":

        def write(path: Path) -> None:
            importlib.import_module("pyarrow.parquet").write_table(value, path)

        return "parquet-arrow", write
    return None


def plain_crc(value: Any) -> int | None:
    """CRC of the plain C pickle (no hooks: about 5 µs for a small dict): it changes when the value
    is mutated in any way. None where the plain pickler cannot handle the value or raises."""
    try:
        with quiet():
            return zlib.crc32(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:
        return None


def type_name(value: Any) -> str:
    kind = type(value)
    return kind.__name__ if kind.__module__ in ("builtins", "__main__") else f"{kind.__module__}.{kind.__qualname__}"


def too_big(size: int, limit: int) -> str:
    return f"too big ({size / 2**20:,.1f} MB, over the checkpoint limit of {limit / 2**20:,.0f} MB per variable)"


def say(exc: BaseException) -> str:
    return shorten(f"{type(exc).__name__}: {exc}", 200)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """What objects print while they are pickled or loaded is not the cell's output."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield
