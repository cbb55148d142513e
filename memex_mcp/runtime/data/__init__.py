"""DuckDB in every kernel: `db`, `sql()`, `tables()`, and the data dirs' files as views.

- The database is a FILE, `<session_dir>/memex.duckdb` (`loader.DB_FILE`, in the `RuntimeConfig`'s
  `session_dir`): tables created with `sql("CREATE TABLE …")`
  outlive a kernel restart, and a named session's come back with it. Checkpoint/restore relies on
  tables living there. If the file cannot be opened (another process holds its lock for more than
  5 s), the kernel says so once and uses an in-memory database.
- Data files are views: `sales_2024.csv` → `sales_2024`, `Q3 report-final.csv` →
  `q3_report_final`; a name already taken (by a table or an earlier file) gets `_2`, `_3`, …
  Each carries the comment `loader.MARK` + its file, by which the next kernel start finds and
  drops it before making the views of its own data dirs. CSV, TSV, Parquet and JSON(L) are read
  by DuckDB at query time, so they are always current; XLSX goes through a Parquet copy in the
  cache dir, remade when the workbook's mtime or size changes (checked at each `sql()` call).
- They are ordinary views, not temporary ones, so cursors see them too: `sql()` and `tables()` in
  a thread other than the main one (sub-agents, subshells) use a cursor of that thread's own. `db`
  is the one connection, which refuses a second call while it runs one: each sub-agent gets a
  cursor as its `db` (agents/spawn.py); other threads that use it directly take `db.cursor()`.
- Nothing is imported or connected on the kernel's main thread at start: a thread imports duckdb,
  opens the file and scans the data dirs, 0.5 s after the kernel loads the runtime or as soon as
  code needs the database (see `loader`). Until then `db` is a stand-in whose every attribute waits
  for the connection; a cell whose code names `db` waits for loading before it runs, and `db` is
  the connection itself from then on (`isinstance`, `with db:` and libraries that take a DuckDB
  connection work). `sql()` and `tables()` wait too, reporting progress after 0.5 s.
- The server's interrupt (a timeout, a cancelled call) stops a running query (`interrupts.py`),
  so the kernel keeps its state instead of being restarted.
- A file that cannot be read is reported once, on stderr of the next cell (or of the call that
  waited for loading), and stays listed in `help()`; the other files load.
"""

from __future__ import annotations

import contextlib
import re
from typing import TYPE_CHECKING, Any

from memex_mcp.protocol import RuntimeConfig
from memex_mcp.runtime.cells import tracebacks
from memex_mcp.runtime.data import interrupts
from memex_mcp.runtime.data.listing import Tables, help_section
from memex_mcp.runtime.data.listing import tables as list_tables
from memex_mcp.runtime.data.loader import DB_FILE, DatabaseUnavailable, Loader
from memex_mcp.runtime.data.sql import Database, make_sql

if TYPE_CHECKING:
    # Only a type here; importing IPython would cost the server, which reads this package's naming
    # rules at start, a tenth of a second.
    from IPython.core.interactiveshell import InteractiveShell

__all__ = ["DB_FILE", "Loader", "install"]

_NAMES_DB = re.compile(r"\bdb\b")


def install(shell: InteractiveShell, config: RuntimeConfig) -> tuple[dict[str, Any], Loader]:
    """Start loading in the background; the prelude names `db`, `sql`, `tables`, and the loader
    (its owner closes it at exit: `Loader.close`)."""
    loader = Loader(config)
    loader.start()
    # While loading, the connection is the loading thread's: an interrupt of a cell waiting for
    # it must stop only the wait, never make that thread skip the file it is reading.
    cells = interrupts.Cells()
    interrupts.install(lambda: loader.connection if loader.ready.is_set() else None, cells)
    tracebacks.HINTS.append(lambda error: _interrupted(error, cells))
    stand_in = Database(loader)

    def tables() -> Tables:
        """Tables and views of `db`, one line each: name, kind, rows where cheap to know, columns with
        types, source file. Each item has `.name`, `.kind`, `.rows`, `.columns`, `.source`."""
        return list_tables(loader)

    def before_cell(info: Any) -> None:
        cells.started()
        if not loader.ready.is_set():
            # Only a cell that uses `db` waits: the others need not pay for loading the data dirs.
            if not _NAMES_DB.search(getattr(info, "raw_cell", None) or ""):
                return
            with contextlib.suppress(DatabaseUnavailable):  # `db`'s attributes then say why
                loader.wait()
        loader.print_reports()
        if loader.connection is not None and shell.user_ns.get("db") is stand_in:
            shell.user_ns["db"] = shell.user_ns_hidden["db"] = loader.connection

    shell.events.register("pre_run_cell", before_cell)
    shell.events.register("post_run_cell", lambda result: cells.ended())
    return {"db": stand_in, "sql": make_sql(loader), "tables": tables}, loader


def _interrupted(error: BaseException, cells: interrupts.Cells) -> str | None:
    """What stopped a query with `duckdb.InterruptException`, and that running it again works."""
    if type(error).__name__ != "InterruptException":
        return None
    if cells.interrupted:
        what = "The query was stopped by the interrupt of this call (its timeout, or the call was cancelled)."
    else:
        what = "The query was stopped by an interrupt that did not come from this call; nothing in the query caused it."
    return what + " The database and its connection are fine: running the query again works."


def help_text(loader: Loader) -> str:
    return help_section(loader)
