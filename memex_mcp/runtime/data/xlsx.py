"""XLSX workbooks, read with openpyxl (through pandas) into Parquet copies in the shared cache.

DuckDB's own Excel reader is an extension, and extensions cannot be downloaded here. The copy is
keyed by the workbook's path, mtime and size, so it is made once per version of the file and
shared by every session of the state dir; each sheet with data is one Parquet file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memex_mcp.runtime.data.sources import literal

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection


@dataclass(frozen=True)
class Sheet:
    name: str
    parquet: Path
    rows: int


def version(path: Path) -> tuple[int, int]:
    """What says the workbook changed: (mtime in ns, size)."""
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


def sheets(path: Path, cache_dir: Path, con: DuckDBPyConnection) -> list[Sheet]:
    """The workbook's non-empty sheets as Parquet files, converted now unless the cache has them."""
    folder = cache_dir / "xlsx"
    folder.mkdir(parents=True, exist_ok=True)
    prefix = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]
    mtime, size = version(path)
    key = f"{prefix}-{mtime}-{size}"
    manifest = folder / f"{key}.json"
    with contextlib.suppress(OSError, ValueError, KeyError):
        cached = [Sheet(s["name"], folder / s["file"], s["rows"]) for s in json.loads(manifest.read_text())]
        if all(s.parquet.exists() for s in cached):
            return cached
    made = _convert(path, folder, key, con)
    for old in folder.glob(f"{prefix}-*"):  # earlier versions of this workbook
        if not old.name.startswith(key):
            with contextlib.suppress(OSError):
                old.unlink()
    _atomic_write(manifest, json.dumps([{"name": s.name, "file": s.parquet.name, "rows": s.rows} for s in made]))
    return made


def _convert(path: Path, folder: Path, key: str, con: DuckDBPyConnection) -> list[Sheet]:
    import pandas as pd

    frames: dict[str, Any] = pd.read_excel(path, sheet_name=None, engine="openpyxl")
    made = []
    for index, (name, frame) in enumerate(frames.items()):
        frame = frame.dropna(how="all")
        if frame.empty and len(frame.columns) == 0:
            continue
        frame.columns = [str(c) for c in frame.columns]
        _uniform(frame)
        target = folder / f"{key}-{index}.parquet"
        partial = target.with_suffix(f".{os.getpid()}.part")
        con.register("__memex_sheet", frame)
        try:
            con.execute(f"COPY (SELECT * FROM __memex_sheet) TO {literal(str(partial))} (FORMAT parquet)")
        finally:
            con.unregister("__memex_sheet")
        os.replace(partial, target)
        made.append(Sheet(str(name), target, len(frame)))
    if not made:
        raise ValueError("the workbook has no sheet with data")
    return made


def _uniform(frame: Any) -> None:
    """Columns mixing types (numbers and text in one column, common in spreadsheets) become text."""
    for column in frame.columns:
        values = frame[column]
        if values.dtype == object:
            kinds = {type(v) for v in values.dropna()}
            if len(kinds) > 1:
                frame[column] = values.map(lambda v: None if v is None or v != v else str(v))


def _atomic_write(path: Path, text: str) -> None:
    partial = path.with_suffix(f".{os.getpid()}.part")
    partial.write_text(text)
    os.replace(partial, path)
