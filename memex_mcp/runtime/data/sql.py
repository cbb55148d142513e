"""`db` and `sql()`: the kernel's DuckDB connection and the function that queries it.

DataFrames (and Arrow tables, Polars frames, relations) in the caller's scope are tables by their
variable name, as DuckDB does it: its replacement scan looks in the locals and globals of the
innermost Python frame. Inside `sql()` that frame would be `sql()`'s own, so the query runs in a
frame that has the caller's globals and locals instead. That works the same from a cell, from a
function, and from code run with `exec(code, namespace)` (sub-agents).
"""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, Any

from memex_mcp.runtime.data.loader import Loader, names

if TYPE_CHECKING:
    from collections.abc import Callable

    from duckdb import DuckDBPyConnection, DuckDBPyRelation

_DB, _QUERY, _PARAMS = "__memex_db__", "__memex_query__", "__memex_params__"
# One constant expression, evaluated in a frame that holds the caller's names.
_CALL = compile("__memex_db__.sql(__memex_query__, params=__memex_params__)", "<memex sql>", "eval")
_MISSING_TABLE = re.compile(r"Table with name (\S+) does not exist")


def make_sql(loader: Loader) -> Callable[..., DuckDBPyRelation | None]:
    def sql(query: str, params: Any = None) -> DuckDBPyRelation | None:
        """Run SQL on `db` and return a DuckDB relation (None for statements without a result).

        Data files are views, DataFrames in scope are tables by their name. `params` fill `?` or
        `$name` placeholders. Relations are lazy: `.df()`, `.fetchall()`, `.arrow()` run them.
        """
        connection = loader.wait()
        loader.refresh()
        frame = sys._getframe(1)
        try:
            names = {} if frame.f_locals is frame.f_globals else dict(frame.f_locals)
            names.update({_DB: connection, _QUERY: query, _PARAMS: params})
            result: DuckDBPyRelation | None = eval(_CALL, frame.f_globals, names)
            return result
        except Exception as exc:
            better = _explain(exc, connection)
            if better is None:
                raise
            raise better from None
        finally:
            del frame

    return sql


def _explain(exc: Exception, connection: DuckDBPyConnection) -> Exception | None:
    """A missing table's error, with the tables there are (DuckDB suggests only the closest name)."""
    import duckdb

    if not isinstance(exc, duckdb.CatalogException) or not _MISSING_TABLE.search(str(exc)):
        return None
    try:
        found = sorted(names(connection))
    except duckdb.Error:
        return None
    there = ", ".join(found) if found else "none yet"
    message = (
        f"{exc}\nTables and views: {there}. tables() lists them with their files; DataFrames, "
        "Arrow tables and relations in scope are tables by their variable name."
    )
    return type(exc)(message)


class Database:
    """`db` until the connection is ready: every attribute waits for it, then is the connection's.

    The prelude replaces it with the connection itself once loading is done, before the next cell.
    """

    def __init__(self, loader: Loader) -> None:
        self._loader = loader

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader.wait(), name)

    def __dir__(self) -> list[str]:
        return dir(self._loader.wait())

    def __repr__(self) -> str:
        state = "ready" if self._loader.ready.is_set() else "opening in the background"
        return f"<DuckDB connection to {self._loader.database} ({state})>"
