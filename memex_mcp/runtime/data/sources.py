"""Which files of the data dirs become views, and the DuckDB reader for each kind."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from memex_mcp.runtime.walk import files

Kind = Literal["csv", "tsv", "parquet", "json", "xlsx"]

_KINDS: dict[str, Kind] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".xlsx": "xlsx",
}
#: DuckDB reads these compressed as they are.
_COMPRESSED = (".gz", ".zst")


@dataclass(frozen=True)
class DataFile:
    path: Path
    kind: Kind

    @property
    def stem(self) -> str:
        """The file name without its extensions: `sales.csv.gz` → `sales`."""
        name = self.path.name
        for suffix in _COMPRESSED:
            name = name.removesuffix(suffix)
        return name[: -len(Path(name).suffix)] if Path(name).suffix else name


def kind_of(path: Path) -> Kind | None:
    name = path.name.lower()
    compressed = name.endswith(_COMPRESSED)
    if compressed:
        name = name.rsplit(".", 1)[0]
    kind = _KINDS.get(Path(name).suffix)
    if kind in ("parquet", "xlsx") and compressed:
        return None
    return kind


def discover(dirs: Iterable[str]) -> list[DataFile]:
    """Table files under each dir (see `walk.files`), each once, in a stable order."""
    found: list[DataFile] = []
    seen: set[Path] = set()
    for top in dirs:
        for path in files(top):
            kind = kind_of(path)
            if kind is None or path.resolve() in seen:
                continue
            seen.add(path.resolve())
            found.append(DataFile(path, kind))
    return found


def literal(text: str) -> str:
    """A SQL string literal (paths cannot be parameters in DDL)."""
    return "'" + text.replace("'", "''") + "'"


def reader(file: DataFile | Path) -> str:
    """The table function that reads the file, as SQL. XLSX is read through its Parquet copy."""
    if isinstance(file, Path):
        return f"read_parquet({literal(str(file))})"
    path = literal(str(file.path))
    if file.kind == "csv":
        return f"read_csv({path})"
    if file.kind == "tsv":
        return f"read_csv({path}, delim = '\t')"
    if file.kind == "json":
        return f"read_json_auto({path})"
    if file.kind == "parquet":
        return f"read_parquet({path})"
    raise ValueError(f"{file.kind} files are read through a Parquet copy")
