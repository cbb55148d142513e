"""The classic harness: tools whose results are text in the model's context.

`sql(query)` runs DuckDB over the data dir's files (views named as in the kernel, made by the same
loader), `search(query)` returns passages of the documents (the kernel's BM25 index), `read_page`
a page's text, `list_files()` what there is, and `submit(value)` hands in the answer. A `sql`
result is capped as mcp-server-motherduck caps it: 1,024 rows and 50,000 characters (the
reference SQLite and Postgres MCP servers cap nothing), with a note saying so; a query is stopped
after 120 s, as memex-mcp's `execute_code` is by default. `list_files` and `read_page` are cut at
50,000 characters too.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio

from memex_mcp.eval.harness import Outcome, answer_text
from memex_mcp.eval.models import ToolSpec
from memex_mcp.protocol import RuntimeConfig

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

    from memex_mcp.runtime.data.loader import Loader
    from memex_mcp.runtime.documents.corpus import Corpus

MAX_ROWS = 1024
MAX_CHARS = 50_000
#: Seconds a query may run, as memex-mcp's default execute_code timeout.
SQL_TIMEOUT = 120.0
#: Passages per search, and characters of each.
SEARCH_K = 5
PASSAGE_CHARS = 600

TOOLS = [
    ToolSpec(
        "list_files",
        "List the data: each table (a view made from a data file) with its columns, and each document "
        "with its number of pages.",
        {"type": "object", "properties": {}},
    ),
    ToolSpec(
        "sql",
        f"Run a DuckDB SQL query over the tables and return its rows as text (at most {MAX_ROWS:,} rows "
        f"and {MAX_CHARS:,} characters).",
        {
            "type": "object",
            "properties": {"query": {"type": "string", "description": "DuckDB SQL"}},
            "required": ["query"],
        },
    ),
    ToolSpec(
        "search",
        f"Search the documents (BM25 over pages) and return the {SEARCH_K} best passages, each with its "
        "document and page.",
        {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    ),
    ToolSpec(
        "read_page",
        "Return the whole text of one page of a document (pages count from 1).",
        {
            "type": "object",
            "properties": {"doc": {"type": "string", "description": "document id"}, "page": {"type": "integer"}},
            "required": ["doc", "page"],
        },
    ),
    ToolSpec(
        "submit",
        "Hand in your final answer: `value`, the answer alone (JSON: a number, a string, …). Ends the task.",
        {"type": "object", "properties": {"value": {"description": "The answer (not null)."}}, "required": ["value"]},
    ),
]


def open_database(data_dir: Path, work_dir: Path) -> DuckDBPyConnection:
    """A DuckDB database in `work_dir` whose views are `data_dir`'s files, as a kernel makes them."""
    loader = _loader(data_dir, work_dir)
    if loader.connection is None:
        raise RuntimeError(f"the database could not be opened: {loader.failure}")
    return loader.connection


def _loader(data_dir: Path, work_dir: Path) -> Loader:
    from memex_mcp.runtime.data.loader import Loader

    config = RuntimeConfig(session_dir=str(work_dir), cache_dir=str(work_dir), data_dirs=[str(data_dir)])
    loader = Loader(config)
    loader.run()
    return loader


class ToolsHarness:
    name: Literal["tools"] = "tools"
    tools = TOOLS
    instructions = ""

    def __init__(self, loader: Loader, corpus: Corpus) -> None:
        self._loader = loader
        self._corpus = corpus

    async def call(self, name: str, arguments: dict[str, Any]) -> Outcome:
        if name == "submit":
            if arguments.get("value") is None:
                return Outcome("Nothing to submit: pass the answer as `value`.", is_error=True)
            value = arguments["value"]
            return Outcome(f"Submitted: {answer_text(value)[:200]}", answer=answer_text(value))
        handler: dict[str, Callable[..., str]] = {
            "list_files": self._list_files,
            "sql": self._sql,
            "search": self._search,
            "read_page": self._page,
        }
        if name not in handler:
            return Outcome(f"No tool {name!r}; the tools are {', '.join(t.name for t in TOOLS)}.", is_error=True)
        try:
            text = await anyio.to_thread.run_sync(lambda: handler[name](**arguments))
        except TypeError as exc:
            return Outcome(f"Wrong arguments for {name}: {exc}", is_error=True)
        except Exception as exc:
            return Outcome(f"{type(exc).__name__}: {exc}", is_error=True)
        return Outcome(text)

    def _con(self) -> DuckDBPyConnection:
        if self._loader.connection is None:
            raise RuntimeError(f"the database could not be opened: {self._loader.failure}")
        return self._loader.connection

    def _list_files(self) -> str:
        con = self._con()
        lines = ["Tables:"]
        for source in self._loader.sources:
            columns = con.execute(f'DESCRIBE "{source.view}"').fetchall()
            described = ", ".join(f"{c[0]} {c[1]}" for c in columns)
            lines.append(f"- {source.view} ({source.file.path.name}): {described}")
        lines.append("Documents:")
        docs = self._corpus.list()
        for row in docs.itertuples():
            lines.append(
                f"- {row.id}: {row.pages} pages" + (f" ({row.status}: {row.reason})" if row.status != "ok" else "")
            )
        return _capped("\n".join(lines))

    def _sql(self, query: str) -> str:
        import duckdb

        con = self._con()
        # As execute_code's timeout stops a query in the kernel; the connection stays usable.
        timer = threading.Timer(SQL_TIMEOUT, con.interrupt)
        timer.start()
        try:
            cursor = con.execute(query)
            if cursor.description is None:
                return "OK (no rows)"
            header = [d[0] for d in cursor.description]
            rows = cursor.fetchmany(MAX_ROWS + 1)
        except duckdb.InterruptException:
            raise TimeoutError(f"the query ran over {SQL_TIMEOUT:g} s and was stopped; make it cheaper") from None
        finally:
            timer.cancel()
        lines = [" | ".join(header)]
        size = len(lines[0])
        note = ""
        for n, row in enumerate(rows[:MAX_ROWS]):
            line = " | ".join("NULL" if v is None else str(v) for v in row)
            if size + len(line) + 1 > MAX_CHARS:
                note = (
                    f"\n(cut at {MAX_CHARS:,} characters after {n:,} rows; aggregate, select fewer columns "
                    "or page with LIMIT/OFFSET)"
                )
                break
            lines.append(line)
            size += len(line) + 1
        if not note and len(rows) > MAX_ROWS:
            note = f"\n(showing the first {MAX_ROWS:,} rows; there are more: aggregate or page with LIMIT/OFFSET)"
        return "\n".join(lines) + note + ("" if rows else "\n(0 rows)")

    def _search(self, query: str) -> str:
        hits = self._corpus.search(query, k=SEARCH_K)
        if not hits:
            return "No passage matches; try other words."
        return "\n\n".join(f"[{i}] {h.doc} p.{h.page}\n{h.context(PASSAGE_CHARS)}" for i, h in enumerate(hits, 1))

    def _page(self, doc: str, page: int) -> str:
        return _capped(self._corpus[doc].page(int(page)))


def _capped(text: str) -> str:
    if len(text) <= MAX_CHARS:
        return text
    return text[:MAX_CHARS] + f"\n(cut at {MAX_CHARS:,} of {len(text):,} characters)"


@contextlib.asynccontextmanager
async def tools_harness(data_dir: Path, work_dir: Path, cache_dir: Path) -> AsyncIterator[ToolsHarness]:
    """The tools harness over `data_dir`, its database in `work_dir`; the document index in `cache_dir`
    (shared by task-runs, so a corpus is indexed once)."""
    from memex_mcp.runtime.documents.corpus import Corpus

    loader = await anyio.to_thread.run_sync(_loader, data_dir, work_dir)
    corpus = Corpus(RuntimeConfig(session_dir=str(work_dir), cache_dir=str(cache_dir), data_dirs=[str(data_dir)]))
    corpus.start()
    try:
        yield ToolsHarness(loader, corpus)
    finally:
        loader.close()
