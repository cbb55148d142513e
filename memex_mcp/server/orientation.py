"""What a client's kernel holds, said in a few lines at start: the model learns it without a call.

The server scans the data dirs itself when it is built, with the kernel's own rules for which file
becomes which view (`runtime.data.sources`, `runtime.data.names`) and which is a document
(`runtime.documents.extract.supported`), and reads column counts where they are cheap: a CSV or
TSV header line, a JSON Lines file's first record, a Parquet footer. Nothing here imports DuckDB,
pandas or pyarrow, and nothing waits for the kernel, which loads the same files in the background.
What it cannot know without reading the files (an unreadable PDF, the columns of a workbook) is
reported by the kernel in the first output instead.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from xml.etree import ElementTree

# The kernel's own naming and file rules, so that what the model is told matches what the kernel
# loads; these modules import only the standard library.
from memex_mcp.runtime.data.names import identifier, unique
from memex_mcp.runtime.data.sources import DataFile, kind_of
from memex_mcp.runtime.documents.extract import supported
from memex_mcp.runtime.models import configured
from memex_mcp.runtime.walk import files
from memex_mcp.server.mcp_config import ConfigError, read_config
from memex_mcp.server.parquet_footer import FooterError, counts
from memex_mcp.server.settings import Settings

#: Files looked at in all: a huge data dir is counted as "at least" this many.
_MAX_FILES = 20_000
#: Tables named (with their column counts) in the summary; the rest are counted.
_NAMED_TABLES = 12
_HEADER_BYTES = 64 * 1024


@dataclass(frozen=True)
class Table:
    name: str
    #: None where it is not cheap to know (XLSX sheets, JSON arrays, compressed with zstd).
    columns: int | None


@dataclass(frozen=True)
class Orientation:
    tables: list[Table]
    #: Tables beyond the named ones.
    more_tables: int
    documents: int
    #: Files of the data dirs that are neither tables nor documents.
    other_files: int
    #: The walk stopped at `_MAX_FILES`.
    truncated: bool
    #: Downstream MCP servers, by name (`tools.<name>`).
    tool_servers: list[str]
    #: The provider sub-agents use; None: none configured (only the client's sampling may serve).
    agent_model: str | None

    def loaded(self) -> str:
        """One line: the tables with their column counts, the documents, the downstream tools."""
        parts = [self._tables()]
        more = "+" if self.truncated else ""
        parts.append(f"{self.documents:,}{more} document{_s(self.documents)} in `docs`")
        if self.other_files:
            parts.append(f"{self.other_files:,} other file{_s(self.other_files)} of unsupported types not loaded")
        if self.tool_servers:
            parts.append("downstream tools: " + ", ".join(f"tools.{name}" for name in self.tool_servers))
        return "Loaded: " + "; ".join(parts) + "."

    def agents(self) -> str:
        """One sentence: which model sub-agents use, or what to do without one."""
        if self.agent_model == "sampling":
            return (
                "Sub-agents use your MCP client's model (MCP sampling); if your client does not support "
                "sampling they fail: then do the work yourself with execute_code."
            )
        if self.agent_model is not None:
            return f"Sub-agents use the model {self.agent_model}."
        return (
            "No model is configured for sub-agents: they work only if your MCP client supports sampling; "
            "otherwise do the work yourself with execute_code."
        )

    def _tables(self) -> str:
        total = len(self.tables) + self.more_tables
        if not total:
            return "no data tables (sql() works on DataFrames in scope)"
        named = ", ".join(
            t.name if t.columns is None else f"{t.name} {t.columns} col{_s(t.columns)}" for t in self.tables
        )
        more = f", and {self.more_tables:,} more: tables()" if self.more_tables else ""
        return f"{total:,} table{_s(total)} for sql() ({named}{more})"


def orient(settings: Settings) -> Orientation:
    """The data dirs, downstream servers and sub-agent model of `settings`, read now (milliseconds
    for a few hundred files)."""
    tables: list[Table] = []
    seen: set[Path] = set()
    more = documents = others = walked = 0
    for top in settings.data_dirs:
        for path in files(top):
            walked += 1
            if walked > _MAX_FILES:
                break
            kind = kind_of(path)
            if kind is not None:
                if path.resolve() in seen:
                    continue
                seen.add(path.resolve())
                found = _views(DataFile(path, kind), [t.name for t in tables])
                named = found[: max(0, _NAMED_TABLES - len(tables))]
                tables += named
                more += len(found) - len(named)
            elif supported(path):
                documents += 1
            else:
                others += 1
    return Orientation(
        tables, more, documents, others, walked > _MAX_FILES, _servers(settings), configured(settings.agent_model)
    )


def _views(file: DataFile, taken: list[str]) -> list[Table]:
    """The views the kernel makes of `file` (one per sheet of a workbook), named as it names them."""
    if file.kind == "xlsx":
        stems = [file.stem if index == 0 else f"{file.stem}_{sheet}" for index, sheet in enumerate(_sheets(file.path))]
        names: list[str] = []
        for stem in stems or [file.stem]:
            names.append(unique(identifier(stem), taken + names))
        return [Table(name, None) for name in names]
    return [Table(unique(identifier(file.stem), taken), _columns(file))]


def _columns(file: DataFile) -> int | None:
    if not file.path.is_file():  # a named pipe would block the server's start until someone writes it
        return None
    with contextlib.suppress(OSError, ValueError, UnicodeError, csv.Error, EOFError, FooterError):
        if file.kind == "parquet":
            return counts(file.path)[0]
        with _open(file.path) as stream:
            first = stream.readline(_HEADER_BYTES)
        if file.kind in ("csv", "tsv"):
            delimiter = "\t" if file.kind == "tsv" else _delimiter(first)
            return len(next(csv.reader([first], delimiter=delimiter))) if first.strip() else None
        record = json.loads(first)  # JSON Lines; a JSON array's first line is not a record
        return len(record) if isinstance(record, dict) else None
    return None


def _open(path: Path) -> IO[str]:
    if path.name.lower().endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path), encoding="utf-8", errors="replace")
    if path.name.lower().endswith(".zst"):
        raise ValueError("zstd is not in the standard library")
    return path.open(encoding="utf-8", errors="replace")


def _delimiter(header: str) -> str:
    """DuckDB sniffs the delimiter of a .csv file; a header line tells it as well."""
    with contextlib.suppress(csv.Error):
        return csv.Sniffer().sniff(header, delimiters=",;|\t").delimiter
    return ","


def _sheets(path: Path) -> list[str]:
    """The workbook's sheet names, in order, from its `xl/workbook.xml`."""
    if not path.is_file():
        return []
    with contextlib.suppress(OSError, KeyError, zipfile.BadZipFile, ElementTree.ParseError):
        with zipfile.ZipFile(path) as book:
            root = ElementTree.fromstring(book.read("xl/workbook.xml"))
        return [e.attrib.get("name", "") for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "sheet"]
    return []


def _servers(settings: Settings) -> list[str]:
    if settings.mcp_config is None:
        return []
    with contextlib.suppress(ConfigError):
        return list(read_config(settings.mcp_config))
    return []


def _s(count: int) -> str:
    return "" if count == 1 else "s"
