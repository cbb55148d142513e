"""Opens the session's database and turns the data dirs' files into views, in a background thread.

Kernel start is benchmarked at about 0.2 s and `import duckdb` plus connecting costs about 0.1 s
more, so neither happens on the kernel's main thread: `Loader.start()` imports, connects and scans
in a thread, and everything that needs the database waits for `Loader.wait()` (with progress
reports when the wait is long). The connection is used only by that thread until it is ready, and
only by the kernel's code after.

The thread holds the GIL for most of that work, which slowed the kernel's first reply by about a
third when it ran at once (measured: 437 ms against 322 ms for a plain ipykernel). So it begins
`_IDLE_START` after the kernel loads the runtime, when the server's first call (which waits for the
MCP SDK's import) has usually been answered, or at once when code needs the database.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from memex_mcp.clock import SYSTEM, Clock
from memex_mcp.protocol import RuntimeConfig
from memex_mcp.runtime.cells.streams import own_thread
from memex_mcp.runtime.data import relations, xlsx
from memex_mcp.runtime.data.names import identifier, unique
from memex_mcp.runtime.data.sources import DataFile, discover, literal, reader
from memex_mcp.text import shorten

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

#: The database file in the session dir. Tables created with `sql()` live here, so they outlive
#: the kernel; checkpoint/restore relies on it.
DB_FILE = "memex.duckdb"
#: The comment on every view made from a data file, followed by the file: how the next kernel
#: start finds the views to make anew.
MARK = "memex data file: "
#: How long to wait for the file lock of a kernel that is still dying (a restart after a timeout).
_LOCK_WAIT = 5.0
#: Seconds after the kernel loads the runtime that loading begins if no code asked for it before.
_IDLE_START = 0.5
#: Waits shorter than this report no progress.
_QUIET = 0.5


class DatabaseUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class Source:
    """A view made from a data file (an XLSX file: from one of its sheets)."""

    view: str
    file: DataFile
    sheet: str | None = None
    rows: int | None = None

    @property
    def label(self) -> str:
        return f"{self.file.path} [{self.sheet}]" if self.sheet is not None else str(self.file.path)


@dataclass(frozen=True)
class Problem:
    path: Path
    reason: str


class Loader:
    def __init__(self, config: RuntimeConfig, clock: Clock = SYSTEM) -> None:
        self._clock = clock
        self.database = Path(config.session_dir) / DB_FILE
        self._dirs = list(config.data_dirs)
        self._cache = Path(config.cache_dir)
        self.ready = threading.Event()
        self._go = threading.Event()
        self.connection: DuckDBPyConnection | None = None
        #: Why there is no connection at all.
        self.failure: str | None = None
        #: Why the connection is to an in-memory database instead of the file.
        self.in_memory: str | None = None
        self.sources: list[Source] = []
        self.problems: list[Problem] = []
        #: (files done, files in all, the file being read) while loading.
        self.step: tuple[int, int, str] = (0, 0, "opening the database")
        self._pending: list[str] = []
        self._lock = threading.Lock()
        #: One re-read of changed workbooks at a time (sub-agents call `sql()` at once).
        self._refreshing = threading.Lock()
        self._local = threading.local()
        #: Each workbook, and the version of it that its views show.
        self._workbooks: dict[Path, tuple[DataFile, tuple[int, int]]] = {}

    def start(self) -> None:
        """Load in a thread: after `_IDLE_START` seconds, or as soon as `wait()` is called."""

        def later() -> None:
            self._go.wait(_IDLE_START)
            self.run()

        own_thread(later, "memex-data")

    def run(self) -> None:
        try:
            self.connection = self._connect()
            self._drop_views()
            self._scan()
        except BaseException as exc:  # whatever it was, waiters must wake up and say why
            self.failure = f"{type(exc).__name__}: {exc}"
        finally:
            self.ready.set()

    def wait(self) -> DuckDBPyConnection:
        """The connection once the data files are loaded: in threads other than the main one, a cursor
        of it of their own (one connection must not run two queries at once). Call it from the
        thread that will use it; a wait reports progress to the cell that runs on it."""
        if not self.ready.is_set():
            from memex_mcp.runtime.progress import wait_with_progress

            self._go.set()
            wait_with_progress([self.ready], self._progress, quiet=_QUIET, clock=self._clock)
        self.print_reports()
        if self.connection is None:
            raise DatabaseUnavailable(
                f"The DuckDB database could not be opened ({self.failure}). Restart the server; "
                "meanwhile `import duckdb; duckdb.connect()` gives an in-memory database."
            )
        return self._con()

    def _progress(self) -> tuple[float, float | None, str]:
        done, total, current = self.step
        return done, total or None, f"loading data files: {current}"

    def print_reports(self) -> None:
        """Problems not reported yet go to stderr of whatever cell is running: each exactly once."""
        with self._lock:
            pending, self._pending = self._pending, []
        for line in pending:
            print(line, file=sys.stderr)

    def close(self) -> None:
        """Close the connection, at exit: a clean close checkpoints the write-ahead log into the file.
        A connection still busy (a thread's query runs) refuses; the next open replays the log
        instead, so there is nothing to report. A connection still being opened is left to the
        exiting process."""
        connection = self.connection
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()

    def refresh(self) -> None:
        """Re-read the XLSX files that changed since they were loaded (a stat per workbook), on the
        calling thread's connection: the main one may be running the cell's query meanwhile."""
        with self._refreshing:
            for path, (file, seen) in list(self._workbooks.items()):
                try:
                    changed = xlsx.version(path) != seen
                except OSError:
                    continue  # gone: its views keep the last copy
                if changed:
                    self._load_xlsx(file)

    def _connect(self) -> DuckDBPyConnection:
        import duckdb

        relations.install()

        deadline = time.monotonic() + _LOCK_WAIT
        while True:
            try:
                connection = duckdb.connect(str(self.database))
                break
            except duckdb.Error as exc:
                locked = "lock" in str(exc).lower()
                if locked and time.monotonic() < deadline:
                    time.sleep(0.1)
                    continue
                why = "another process has it open" if locked else reason(exc)
                self.in_memory = why
                self._report(
                    f"memex: the database {self.database} could not be opened ({why}); this kernel uses "
                    "an in-memory database instead, so tables created now will not outlive it."
                )
                connection = duckdb.connect(":memory:")
                break
        return connection

    def _drop_views(self) -> None:
        """The views an earlier kernel made from data files: the files may have changed or gone."""
        con = self._con()
        found = con.execute("SELECT view_name FROM duckdb_views() WHERE starts_with(comment, ?)", [MARK]).fetchall()
        for (name,) in found:
            con.execute(f'DROP VIEW IF EXISTS "{name}"')

    def _scan(self) -> None:
        files = discover(self._dirs)
        for number, file in enumerate(files):
            self.step = (number, len(files), file.path.name)
            try:
                if file.kind == "xlsx":
                    self._load_xlsx(file)
                else:
                    self._add(file)
            except Exception as exc:  # one unreadable file never stops the others
                self._problem(file.path, exc)
        self.step = (len(files), len(files), "done")

    def _add(self, file: DataFile) -> None:
        con = self._con()
        name = unique(identifier(file.stem), names(self._con()))
        self._view(name, reader(file), str(file.path))
        rows = None
        if file.kind == "parquet":  # the footer knows; CSV and JSON would need a full read
            metadata = f"parquet_file_metadata({literal(str(file.path))})"
            found = con.execute(f"SELECT sum(num_rows) FROM {metadata}").fetchall()
            rows = int(found[0][0]) if found and found[0][0] is not None else None
        self.sources.append(Source(name, file, rows=rows))

    def _load_xlsx(self, file: DataFile) -> None:
        con = self._con()
        try:
            self._workbooks[file.path] = (file, xlsx.version(file.path))
            sheets = xlsx.sheets(file.path, self._cache, con)
        except Exception as exc:
            self._problem(file.path, exc)
            return
        self.problems = [p for p in self.problems if p.path != file.path]
        old = {s.sheet: s for s in self.sources if s.file.path == file.path}
        sources = [s for s in self.sources if s.file.path != file.path]
        for index, sheet in enumerate(sheets):
            previous = old.pop(sheet.name, None)
            if previous is not None:
                name = previous.view
            else:
                stem = file.stem if index == 0 else f"{file.stem}_{sheet.name}"
                name = unique(identifier(stem), names(self._con()))
            source = Source(name, file, sheet=sheet.name, rows=sheet.rows)
            self._view(name, reader(sheet.parquet), source.label)
            sources.append(source)
        self.sources = sources  # a new list: `tables()` and `help()` read it from other threads
        for gone in old.values():
            con.execute(f'DROP VIEW IF EXISTS "{gone.view}"')

    def _view(self, name: str, read: str, label: str) -> None:
        con = self._con()
        con.execute(f'CREATE OR REPLACE VIEW "{name}" AS SELECT * FROM {read}')
        con.execute(f'COMMENT ON VIEW "{name}" IS {literal(MARK + label)}')

    def _con(self) -> DuckDBPyConnection:
        """This thread's connection: the loading thread's and the main thread's is the connection
        itself; any other thread has a cursor of its own (one connection refuses a second call
        while it runs one)."""
        assert self.connection is not None
        if not self.ready.is_set() or threading.current_thread() is threading.main_thread():
            return self.connection
        cursor: DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._local.cursor = self.connection.cursor()
        return cursor

    def _problem(self, path: Path, exc: BaseException) -> None:
        problem = Problem(path, reason(exc))
        self.problems = [p for p in self.problems if p.path != path] + [problem]
        self._report(f"memex: skipped the data file {path}: {problem.reason}")

    def _report(self, line: str) -> None:
        with self._lock:
            self._pending.append(line)


def names(connection: DuckDBPyConnection) -> set[str]:
    """The tables and views of the database (of data files, or made in SQL)."""
    rows = connection.execute(
        "SELECT table_name FROM duckdb_tables() UNION ALL SELECT view_name FROM duckdb_views() WHERE NOT internal"
    ).fetchall()
    return {str(row[0]) for row in rows}


def reason(exc: BaseException) -> str:
    """`Type: message`, without DuckDB's echo of the statement, at most a few lines."""
    text = str(exc).split("\n\nLINE ", 1)[0].strip()
    lines = [line for line in text.splitlines() if line.strip()][:3]
    return f"{type(exc).__name__}: {shorten(' '.join(lines), 300)}"
