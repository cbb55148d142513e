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
  tables()          tables and views with rows, column types, source file
  history           every execution: history[i].code, .output, history.find(text)
  _outputs[n]       full output of execution n (replies may be cut)
  trajectories(x)   eval runs or a session's executions, as objects
  submit(value)     record a final answer (kept in `submissions`)
  docs.search(query, k=10)  ranked pages; h = hits[0]: h.text (the page), h.context(600)
    files="*.pdf", after="2024-03", before=, per_doc=1; periods in query ("Q3 2024") rank first
  docs.search_documents(query)  documents ranked, .pages the evidence; files/after/before too
  docs.grep(pattern)  regex matches: document, page, line
  docs.list()       DataFrame of the documents (id, pages, status, reason, date, …)
  docs[doc_id]      a document d: .text, .pages (from 0), .date; d.page(n) counts from 1 as hits
                    print it (p.2); d.page(hit), docs[hit]
  docs.add(path)    index more files; read_document(path) reads one unindexed
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
