"""`tables()` and the data section of `help()`: what can be queried, and which file each view reads."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from stat import S_ISREG
from typing import TYPE_CHECKING, Literal

from memex_mcp.runtime.data.loader import Loader, Source
from memex_mcp.runtime.data.sources import reader
from memex_mcp.text import listed, shorten

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

#: Lines of the view → file mapping that `help()` shows; `tables()` has them all.
_HELP_ROWS = 15
#: A CSV or JSON file up to this size is counted when listed (a full read; about 0.1 s for 20 MB).
COUNT_BYTES = 20_000_000
#: Characters of a line's column list; the rest are counted, and `.columns` has them all.
_COLUMN_CHARS = 160
_TYPE_CHARS = 24

#: Row counts of files by (path, mtime, size): listing again reads nothing that did not change.
_counted: dict[tuple[str, int, int], int] = {}


@dataclass(frozen=True)
class Column:
    name: str
    type: str

    def __str__(self) -> str:
        return f"{self.name}:{shorten(self.type, _TYPE_CHARS)}"


@dataclass(frozen=True)
class TableInfo:
    name: str
    kind: Literal["table", "view"]
    columns: tuple[Column, ...]
    #: Tables; views of Parquet and XLSX files (from their metadata) and of CSV and JSON files up to
    #: `COUNT_BYTES`. None where counting would mean running the view (views made in SQL, big files).
    rows: int | None
    #: The data file a view reads, None for tables and views made in SQL.
    source: str | None


class Tables(list[TableInfo]):
    """Prints as one line per table; each item has `.name`, `.kind`, `.columns` (each with `.name` and
    `.type`), `.rows` (None if unknown) and `.source`."""

    def __repr__(self) -> str:
        if not self:
            return "No tables or views yet. sql('CREATE TABLE …') makes one; DataFrames in scope are tables by name."
        width = min(max(len(t.name) for t in self), 32)
        lines = [f"{'name':<{width}}  kind   {'rows':>9}  columns (name:type)"]
        for t in self:
            rows = f"{t.rows:,}" if t.rows is not None else "unknown"
            source = f"  ← {t.source}" if t.source else ""
            lines.append(f"{t.name:<{width}}  {t.kind:<5}  {rows:>9}  {_columns(t.columns)}{source}")
        return "\n".join(lines)


def _columns(columns: tuple[Column, ...]) -> str:
    return listed(map(str, columns), _COLUMN_CHARS, "… +{n} more (.columns)")


def tables(loader: Loader) -> Tables:
    """Tables and views of `db`: name, kind, columns with types, rows where cheap to know, source file."""
    connection = loader.wait()
    loader.refresh()
    found = connection.execute(
        "SELECT table_name, 'table', estimated_size FROM duckdb_tables() WHERE NOT internal "
        "UNION ALL SELECT view_name, 'view', NULL FROM duckdb_views() WHERE NOT internal "
        "ORDER BY 1"
    ).fetchall()
    columns: dict[str, list[Column]] = {}
    for table, name, kind in connection.execute(
        "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE NOT internal "
        "ORDER BY table_name, column_index"
    ).fetchall():
        columns.setdefault(table, []).append(Column(name, kind))
    sources = {s.view: s for s in loader.sources}
    listing = Tables()
    for name, kind, rows in found:
        source = sources.get(name)
        if source is not None:
            rows = source.rows if source.rows is not None else _count(connection, source)
        listing.append(
            TableInfo(
                name,
                kind,
                tuple(columns.get(name, ())),
                None if rows is None else int(rows),
                source.label if source else None,
            )
        )
    return listing


def _count(connection: DuckDBPyConnection, source: Source) -> int | None:
    """The rows of a small CSV or JSON file (read once per version of the file), else None."""
    path = source.file.path
    try:
        stat = path.stat()
    except OSError:
        return None
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    # Only regular files: a pipe would be drained (or wait for a writer) by the count.
    if key not in _counted and stat.st_size <= COUNT_BYTES and S_ISREG(stat.st_mode):
        with contextlib.suppress(Exception):  # unreadable now: its queries will say why
            _counted[key] = int(connection.execute(f"SELECT count(*) FROM {reader(source.file)}").fetchall()[0][0])
    return _counted.get(key)


def help_section(loader: Loader) -> str:
    """The data files part of `help()`: never waits for loading."""
    if not loader.ready.is_set():
        done, total, _ = loader.step
        return f"Data files: loading in the background ({done} of {total or '?'}); sql() and tables() wait for it."
    if loader.connection is None:
        return f"Database: could not be opened ({loader.failure})."
    if loader.in_memory is not None:
        lines = [
            f"Database: in memory, tables you create will not outlive the kernel ({loader.database}: "
            f"{loader.in_memory})"
        ]
    else:
        lines = [f"Database: {loader.database} (tables you create persist there)"]
    if loader.sources:
        lines.append("Data files, as views (tables() lists everything with columns, types and rows):")
        width = min(max(len(s.view) for s in loader.sources), 28)
        lines += [f"  {s.view:<{width}}  {s.label}" for s in loader.sources[:_HELP_ROWS]]
        if len(loader.sources) > _HELP_ROWS:
            lines.append(f"  … and {len(loader.sources) - _HELP_ROWS} more: tables()")
    lines += [f"  skipped {p.path}: {p.reason}" for p in loader.problems[:5]]
    return "\n".join(lines)
