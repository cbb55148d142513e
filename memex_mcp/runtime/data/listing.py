"""`tables()` and the data section of `help()`: what can be queried, and which file each view reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from memex_mcp.runtime.data.loader import Loader

#: Lines of the view → file mapping that `help()` shows; `tables()` has them all.
_HELP_ROWS = 15


@dataclass(frozen=True)
class TableInfo:
    name: str
    kind: Literal["table", "view"]
    columns: int
    #: Known without reading the data: tables, Parquet and XLSX files. None for CSV and JSON.
    rows: int | None
    #: The data file a view reads, None for tables and views made in SQL.
    source: str | None


class Tables(list[TableInfo]):
    """Prints as one line per table; each item has `.name`, `.kind`, `.columns`, `.rows`, `.source`."""

    def __repr__(self) -> str:
        if not self:
            return "No tables or views yet. sql('CREATE TABLE …') makes one; DataFrames in scope are tables by name."
        width = min(max(len(t.name) for t in self), 32)
        lines = [f"{'name':<{width}}  kind   columns  rows        source"]
        for t in self:
            rows = f"{t.rows:,}" if t.rows is not None else "?"
            lines.append(f"{t.name:<{width}}  {t.kind:<5}  {t.columns:>7}  {rows:<10}  {t.source or ''}".rstrip())
        return "\n".join(lines)


def tables(loader: Loader) -> Tables:
    """Tables and views of `db`: name, kind, columns, rows where known cheaply, source file."""
    connection = loader.wait()
    loader.refresh()
    found = connection.execute(
        "SELECT table_name, 'table', column_count, estimated_size FROM duckdb_tables() WHERE NOT internal "
        "UNION ALL SELECT view_name, 'view', column_count, NULL FROM duckdb_views() WHERE NOT internal "
        "ORDER BY 1"
    ).fetchall()
    sources = {s.view: s for s in loader.sources}
    listing = Tables()
    for name, kind, columns, rows in found:
        source = sources.get(name)
        if source is not None:
            rows = source.rows
        listing.append(TableInfo(name, kind, int(columns or 0), None if rows is None else int(rows),
                                 source.label if source else None))
    return listing


def help_section(loader: Loader) -> str:
    """The data files part of `help()`: never waits for loading."""
    if not loader.ready.is_set():
        done, total, _ = loader.step
        return f"Data files: loading in the background ({done} of {total or '?'}); sql() and tables() wait for it."
    if loader.connection is None:
        return f"Database: could not be opened ({loader.failure})."
    if loader.in_memory is not None:
        lines = [f"Database: in memory, tables you create will not outlive the kernel ({loader.database}: "
                 f"{loader.in_memory})"]
    else:
        lines = [f"Database: {loader.database} (tables you create persist there)"]
    if loader.sources:
        lines.append("Data files, as views (tables() lists everything with columns and rows):")
        width = min(max(len(s.view) for s in loader.sources), 28)
        lines += [f"  {s.view:<{width}}  {s.label}" for s in loader.sources[:_HELP_ROWS]]
        if len(loader.sources) > _HELP_ROWS:
            lines.append(f"  … and {len(loader.sources) - _HELP_ROWS} more: tables()")
    lines += [f"  skipped {p.path}: {p.reason}" for p in loader.problems[:5]]
    return "\n".join(lines)
