"""`fetchone()` and `fetchmany()` on DuckDB relations, the one patch of DuckDB in the kernel.

DuckDB 2 relations keep no result, so it dropped both methods, while `sql(q).fetchone()[0]` is the
way most code reads one value. Here they read one run of the relation as a cursor does: the first
call runs it, later calls go on where the last stopped, and at the end `fetchone()` gives None and
`fetchmany()` an empty list. `fetchall()`, `.df()` and the others run the relation afresh, as
DuckDB has them. Only the first `_WINDOW` rows come from a query with a LIMIT (a peek at a big
table stays cheap); reading past them runs the whole relation once.

The hooks used (`DuckDBPyRelation` is a Python class; `_REMOVED_METHODS` names what its
attribute lookup refuses) are checked by `tests/test_model_errors.py`.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

#: Rows a first fetch reads with a LIMIT.
_WINDOW = 1000


@dataclass
class _Cursor:
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    #: Whether `rows` is the whole result.
    complete: bool = False
    position: int = 0
    #: The rest, past `rows`, once a fetch needed it.
    rest: Iterator[tuple[Any, ...]] | None = None


_cursors: weakref.WeakKeyDictionary[Any, _Cursor] = weakref.WeakKeyDictionary()


def fetchmany(self: Any, size: int = 1) -> list[tuple[Any, ...]]:
    """The next `size` rows of this relation's run (the first call runs it); [] at the end."""
    if size < 0:
        raise ValueError(f"fetchmany(size) takes a size of 0 or more, not {size}")
    cursor = _cursors.get(self)
    if cursor is None:
        cursor = _cursors[self] = _Cursor()
        found = self.limit(max(size, _WINDOW) + 1).fetchall()
        cursor.complete = len(found) <= max(size, _WINDOW)
        cursor.rows = found[: max(size, _WINDOW)]
    start, cursor.position = cursor.position, cursor.position + size
    taken = cursor.rows[start : cursor.position]
    if len(taken) < size and not cursor.complete:
        if cursor.rest is None:
            cursor.rest = itertools.islice(self.iter_rows(), len(cursor.rows), None)
        taken += itertools.islice(cursor.rest, size - len(taken))
    return taken


def fetchone(self: Any) -> tuple[Any, ...] | None:
    """The next row of this relation's run (the first call runs it); None at the end."""
    rows = fetchmany(self, 1)
    return rows[0] if rows else None


def install() -> None:
    """Give every relation `fetchone()`/`fetchmany()`, and say what the other missing methods are
    replaced by without telling a model about versions it never used."""
    from duckdb import _relation

    relation = _relation.DuckDBPyRelation
    if getattr(relation, "fetchone", None) is fetchone:
        return
    relation.fetchone = fetchone  # type: ignore[attr-defined]
    relation.fetchmany = fetchmany  # type: ignore[attr-defined]
    lookup = relation.__getattr__

    def __getattr__(self: Any, name: str) -> Any:
        try:
            return lookup(self, name)
        except AttributeError:
            replacement = _relation._REMOVED_METHODS.get(name)
            if replacement is None:
                raise
            raise AttributeError(
                f"A DuckDB relation has no {name}() and is not a column {name!r}: use {replacement}. "
                "A relation keeps no result; each method that reads rows runs it."
            ) from None

    relation.__getattr__ = __getattr__  # type: ignore[method-assign]
