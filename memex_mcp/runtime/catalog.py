"""`help()` with no argument: a short catalog of the prelude. `help(obj)` stays Python's."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from typing import Any

CATALOG = """\
memex scratchpad: your variables persist between calls; only what you print is returned.
  db                DuckDB connection (tables persist in the session's file); threads: db.cursor()
  sql(query, params=None)  run SQL on db → a relation (prints a preview; .df(), .fetchone(),
                    .fetchall()); data files are views, DataFrames in scope are tables by name
  tables()          tables and views: rows, columns with types, source file
  history           every execution: history[i].code, .output, history.find(text)
  _outputs[n]       full output of execution n (replies are cut to the output budget)
  trajectories(x)   an eval --out dir's runs, or a session's executions (by name): .where(…), .to_frame()
  submit(value)     record a final answer, appended to `submissions`
  docs.search(query, k=10)  ranked pages; h = hits[0]: h.text the page, h.snippet, h.context(600)
    files="*.pdf", after="2024-03", before="2024", per_doc=1; "Q3 2024" in query ranks it first
  docs.search_documents(query)  whole documents ranked, .pages the evidence
  docs.grep(pattern)  regex matches: document, page, line
  docs.list()       DataFrame, one row per document (id, file, pages, status, reason, date, path, …)
  docs[doc_id]      a document d: .text, .pages (a list, from 0); d.page(n) counts from 1 as hits
                    print it (p.2), d.page(hit) is the hit's page; docs[hit] its document
  docs.add(path)    index more files now; read_document(path) reads one without indexing
  spawn_agent(task, inputs=None, returns=None, name=None, model=None, max_turns=20)
                    a sub-agent in its own thread → handle h: h.result(), h.status, h.cancel(),
                    h.transcript; it reads your variables. gather(*handles) → their results
  tools.<server>.<tool>(...)  MCP servers' tools (--mcp-config)
  memex_help()      this catalog; help(obj) is Python's help
Tips: keep big results in variables and print summaries (len, .head(), a few values)."""


def catalog(sections: Sequence[Callable[[], str]]) -> Callable[[], None]:
    """The prelude's `memex_help`: the catalog, then each of `sections` (the parts that depend on
    the session, such as its data files), read when it is called."""

    def memex_help() -> None:
        """Print the catalog of the scratchpad's preloaded names."""
        print(CATALOG)
        for section in sections:
            print(section())

    return memex_help


class Help:
    """`help()` prints the scratchpad catalog; `help(obj)` is Python's help."""

    def __init__(self, memex_help: Callable[[], None]) -> None:
        self._memex_help = memex_help

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not args and not kwargs:
            return self._memex_help()
        return builtins.help(*args, **kwargs)

    def __repr__(self) -> str:
        return "Type help() for the scratchpad catalog, or help(object) for help about object."
