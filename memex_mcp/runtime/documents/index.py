"""The page index: SQLite FTS5 (BM25) in one file under the shared cache dir.

One database serves every session of a state dir: it caches each file's pages by absolute path,
size and modification time, so a file is extracted again only when it changed. Each corpus
(`docs` in one kernel) searches only its own files (`members`, a temporary table of its connection).
Two kernels may open it at once: WAL lets readers read while one writes, writes are short
transactions (a batch of files each), and `BuildLock` makes a second kernel wait for the first one's indexing
instead of extracting the same files twice. BM25's document statistics are those of the whole
cache, so a corpus's scores shift slightly with what else is cached; the order of clear winners
does not.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from memex_mcp.runtime.documents.dates import DocDate, as_row, from_row
from memex_mcp.runtime.documents.snippet import snippet

Status = Literal["ok", "empty", "skipped"]

#: Bumped when the schema or the text extraction changes: a cache of another version is dropped and
#: rebuilt, so it never serves text that the current extraction would not give.
#: 2: page labels; words cut by a PDF's line wrapping joined; `year-over-year` keeps its hyphen.
#: 3: each file's date (the period it is dated by, its precision and where it was read); the cells of a
#:    PDF table's row separated by ` | `.
SCHEMA_VERSION = 3
_SCHEMA = """
CREATE TABLE files(id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL, size INTEGER NOT NULL,
                   mtime_ns INTEGER NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL,
                   pages INTEGER NOT NULL, chars INTEGER NOT NULL, period_start TEXT NOT NULL DEFAULT '',
                   period_end TEXT NOT NULL DEFAULT '', precision TEXT NOT NULL DEFAULT '',
                   date_from TEXT NOT NULL DEFAULT '');
CREATE TABLE pages(id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL, page INTEGER NOT NULL, text TEXT NOT NULL,
                   label TEXT NOT NULL);
CREATE INDEX pages_by_file ON pages(file_id, page);
CREATE VIRTUAL TABLE pages_fts USING fts5(text, content='pages', content_rowid='id',
                                          tokenize='porter unicode61 remove_diacritics 2');
CREATE TRIGGER pages_added AFTER INSERT ON pages BEGIN
  INSERT INTO pages_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER pages_removed AFTER DELETE ON pages BEGIN
  INSERT INTO pages_fts(pages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
"""

#: Words too common to help rank pages, dropped from a query that has other words.
_STOP = """a about after all also an and any are as at be been but by can could did do does for from had has have how
i if in into is it its me my no not of on or our so than that the their them then there these they this those to was
we were what when where which who whom why will with would you your"""
STOP_WORDS = frozenset(_STOP.split())
_PHRASE = re.compile(r'"([^"]*)"')
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class FileRecord:
    id: int
    path: str
    size: int
    mtime_ns: int
    status: Status
    reason: str
    pages: int
    chars: int
    #: The period the file is dated by (ISO dates, "" when undated), its precision and where it was
    #: read: see `dates.publication_date`.
    period_start: str = ""
    period_end: str = ""
    precision: str = ""
    date_from: str = ""

    @property
    def dated(self) -> DocDate | None:
        return from_row(self.period_start, self.period_end, self.precision, self.date_from)


@dataclass(frozen=True)
class PageHit:
    file_id: int
    page: int
    label: str
    score: float
    #: Where the snippet's text starts in `text` (see `snippet.snippet`).
    offset: int
    snippet: str
    text: str


@dataclass(frozen=True)
class Candidate:
    """A page that matched, before re-ranking: its FTS row, file, page number and BM25 score."""

    rowid: int
    file_id: int
    page: int
    score: float


#: Marks FTS5's `highlight()` puts around the matched words (private-use characters).
_OPEN, _CLOSE = "\ue000", "\ue001"


def fts_query(text: str) -> str:
    """Any text as a safe FTS5 query: its words OR-ed, so BM25 ranks pages by how many of them they
    hold and how rare they are, plus as phrases the "quoted words" and the words joined by
    punctuation (`Kiri-2`, `44.6`, `year-over-year`), which the index also splits, so pages with
    them in that order rank higher. Operators, quotes, hyphens and parentheses in `text` are never
    FTS5 syntax. Empty when `text` has no words."""
    lowered = text.lower()
    terms: list[str] = []
    for chunk in [*_PHRASE.findall(lowered), *lowered.split()]:
        words = _WORD.findall(chunk)
        if len(words) > 1:
            terms.append('"' + " ".join(words) + '"')
    words = _WORD.findall(lowered)
    kept = [w for w in words if w not in STOP_WORDS] or words
    terms += [f'"{w}"' for w in kept]
    return " OR ".join(dict.fromkeys(terms))


class Index:
    """Thread-safe: one connection, used by one thread at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._db = self._open()
        except sqlite3.OperationalError:  # locked, unwritable: another kernel's cache, not ours to drop
            raise
        except sqlite3.DatabaseError:  # "file is not a database": a corrupt cache is only a cache
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("BEGIN IMMEDIATE")
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                for kind, name in db.execute(
                    "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'trigger') "
                    "AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'pages_fts_%'"
                ).fetchall():
                    db.execute(f"DROP {kind} IF EXISTS {name}")
                for statement in _statements(_SCHEMA):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            db.close()
            raise
        db.execute("CREATE TEMP TABLE members(file_id INTEGER PRIMARY KEY)")
        return db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def lookup(self, path: str) -> FileRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM files WHERE path = ?", (path,)).fetchone()
        return FileRecord(*row) if row else None

    def store(
        self,
        path: str,
        size: int,
        mtime_ns: int,
        pages: list[str] | None,
        reason: str,
        labels: list[str] | None = None,
        dated: DocDate | None = None,
    ) -> FileRecord:
        """Replace what is cached for `path`: its pages and their printed `labels` and its date, or
        (`pages` None) the reason it was skipped. Another kernel may have stored the same version
        meanwhile; then that record is kept."""
        status: Status = "skipped" if pages is None else ("ok" if any(p.strip() for p in pages) else "empty")
        pages = pages or []
        with self._lock, self._transaction():
            old = self._db.execute("SELECT * FROM files WHERE path = ?", (path,)).fetchone()
            if old is not None and (old[2], old[3]) == (size, mtime_ns):
                return FileRecord(*old)
            if old is not None:
                self._db.execute("DELETE FROM pages WHERE file_id = ?", (old[0],))
            when = as_row(dated)
            row = (path, size, mtime_ns, status, reason, len(pages), sum(len(p) for p in pages), *when)
            file_id = self._db.execute(
                "INSERT INTO files(path, size, mtime_ns, status, reason, pages, chars, period_start, period_end, "
                "precision, date_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(path) DO UPDATE SET size=excluded.size, mtime_ns=excluded.mtime_ns, "
                "status=excluded.status, reason=excluded.reason, pages=excluded.pages, chars=excluded.chars, "
                "period_start=excluded.period_start, period_end=excluded.period_end, "
                "precision=excluded.precision, date_from=excluded.date_from "
                "RETURNING id",
                row,
            ).fetchone()[0]
            labels = (labels or [])[: len(pages)]
            labels += [""] * (len(pages) - len(labels))
            rows = enumerate(zip(pages, labels, strict=True), 1)
            self._db.executemany(
                "INSERT INTO pages(file_id, page, text, label) VALUES (?, ?, ?, ?)",
                ((file_id, n, text, label) for n, (text, label) in rows),
            )
        return FileRecord(file_id, *row)

    def forget(self, keep: Callable[[str], bool]) -> int:
        """Drop the cached files for which `keep(path)` is false; how many were dropped."""
        with self._lock:
            gone = [(i,) for i, path in self._db.execute("SELECT id, path FROM files").fetchall() if not keep(path)]
            if gone:
                with self._transaction():
                    self._db.executemany("DELETE FROM pages WHERE file_id = ?", gone)
                    self._db.executemany("DELETE FROM files WHERE id = ?", gone)
        return len(gone)

    def optimize(self) -> None:
        """Merge the index's segments into one: searches after a large build get about 25% faster."""
        with self._lock:
            self._db.execute("INSERT INTO pages_fts(pages_fts) VALUES ('optimize')")

    def set_members(self, file_ids: Iterable[int]) -> None:
        with self._lock, self._transaction(immediate=False):
            self._db.execute("DELETE FROM temp.members")
            self._db.executemany("INSERT OR IGNORE INTO temp.members VALUES (?)", ((i,) for i in file_ids))

    def search(self, query: str, k: int, members: Container[int]) -> list[PageHit]:
        """The `k` best pages of the `members` (file ids, the same as `set_members` was given) for an
        FTS5 `query` (see `fts_query`), best first."""
        if not query or k <= 0:
            return []
        with self._lock:
            # Usually the cache holds little besides this corpus: rank without the members join
            # (it doubles the cost) and filter here; join only when too few of the best are members.
            limit = max(4 * k, 40)
            top = self._db.execute(
                "SELECT rowid, -bm25(pages_fts) FROM pages_fts WHERE pages_fts MATCH ? "
                "ORDER BY bm25(pages_fts) LIMIT ?",
                (query, limit),
            ).fetchall()
            pages = self._pages_by_rowid([rowid for rowid, _ in top])
            best = [(rowid, score) for rowid, score in top if pages[rowid][0] in members][:k]
            if len(best) < k and len(top) == limit:
                best = self._db.execute(
                    "SELECT pages_fts.rowid, -bm25(pages_fts) FROM pages_fts JOIN pages p ON p.id = pages_fts.rowid "
                    "WHERE pages_fts MATCH ? AND p.file_id IN temp.members ORDER BY bm25(pages_fts) LIMIT ?",
                    (query, k),
                ).fetchall()
                pages = self._pages_by_rowid([rowid for rowid, _ in best])
            return self._hits(query, best, pages)

    def candidates(
        self, query: str, limit: int, members: Container[int], scope: list[int] | None = None
    ) -> list[Candidate]:
        """The `limit` best pages for an FTS5 `query` of the `members` (as `search`), or of the files
        `scope` when given (a subset of them), best first; without their text, for re-ranking."""
        if not query or limit <= 0:
            return []
        with self._lock:
            if scope is not None:
                with self._transaction(immediate=False):
                    self._db.execute("CREATE TEMP TABLE IF NOT EXISTS scope(file_id INTEGER PRIMARY KEY)")
                    self._db.execute("DELETE FROM temp.scope")
                    self._db.executemany("INSERT OR IGNORE INTO temp.scope VALUES (?)", ((i,) for i in scope))
                return self._joined(query, limit, "scope")
            # The best pages of the whole cache first (as `search`), then their files: joining `pages`
            # only to those rows costs little, joining every match to the members doubles the cost.
            top = self._db.execute(
                "SELECT t.rowid, p.file_id, p.page, t.score FROM (SELECT rowid, -bm25(pages_fts) AS score "
                "FROM pages_fts WHERE pages_fts MATCH ? ORDER BY bm25(pages_fts) LIMIT ?) t "
                "JOIN pages p ON p.id = t.rowid ORDER BY t.score DESC",
                (query, limit),
            ).fetchall()
            found = [Candidate(*row) for row in top if row[1] in members]
            if len(found) < limit // 2 and len(top) == limit:  # mostly other corpora's pages
                return self._joined(query, limit, "members")
            return found

    def _joined(self, query: str, limit: int, table: Literal["members", "scope"]) -> list[Candidate]:
        rows = self._db.execute(
            "SELECT pages_fts.rowid, p.file_id, p.page, -bm25(pages_fts) FROM pages_fts "
            f"JOIN pages p ON p.id = pages_fts.rowid WHERE pages_fts MATCH ? AND p.file_id IN temp.{table} "
            "ORDER BY bm25(pages_fts) LIMIT ?",
            (query, limit),
        )
        return [Candidate(*row) for row in rows]

    def hits(self, query: str, chosen: list[tuple[int, float]]) -> list[PageHit]:
        """`PageHit`s of the pages `chosen` (rowid, score), in that order, with their snippets for `query`."""
        with self._lock:
            return self._hits(query, chosen, self._pages_by_rowid([rowid for rowid, _ in chosen]))

    def _hits(
        self, query: str, chosen: list[tuple[int, float]], pages: dict[int, tuple[int, int, str, str]]
    ) -> list[PageHit]:
        # highlight() one page at a time: with `rowid IN (…)` SQLite walks every match again.
        hits = []
        for rowid, score in chosen:
            (marked,) = self._db.execute(
                f"SELECT highlight(pages_fts, 0, '{_OPEN}', '{_CLOSE}') FROM pages_fts WHERE pages_fts MATCH ? "
                "AND rowid = ?",
                (query, rowid),
            ).fetchone()
            file_id, page, text, label = pages[rowid]
            offset, shown = snippet(text, _spans(marked, text))
            hits.append(PageHit(file_id, page, label, score, offset, shown, text))
        return hits

    def _pages_by_rowid(self, rowids: list[int]) -> dict[int, tuple[int, int, str, str]]:
        marks = ",".join("?" * len(rowids))
        rows = self._db.execute(f"SELECT id, file_id, page, text, label FROM pages WHERE id IN ({marks})", rowids)
        return {row[0]: row[1:] for row in rows}

    def pages(self, file_id: int) -> tuple[list[str], list[str]]:
        """The file's page texts and their printed labels, in page order."""
        texts: list[str] = []
        labels: list[str] = []
        with self._lock:
            for text, label in self._db.execute(
                "SELECT text, label FROM pages WHERE file_id = ? ORDER BY page", (file_id,)
            ):
                texts.append(text)
                labels.append(label)
        return texts, labels

    def member_pages(self, batch: int = 500) -> Iterator[tuple[int, int, str, str]]:
        """(file id, page, text, label) of every member page, fetched in batches so others can use the index."""
        last = (-1, -1)
        while True:
            with self._lock:
                rows = self._db.execute(
                    "SELECT p.file_id, p.page, p.text, p.label FROM pages p WHERE p.file_id IN temp.members "
                    "AND (p.file_id, p.page) > (?, ?) ORDER BY p.file_id, p.page LIMIT ?",
                    (*last, batch),
                ).fetchall()
            if not rows:
                return
            yield from rows
            last = (rows[-1][0], rows[-1][1])

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction for every `store` made inside: FTS5 writes a batch far faster than as many
        small transactions, and a batch cut short (the kernel killed) leaves nothing of itself. Other
        threads wait for the batch to end."""
        with self._lock, self._transaction():
            yield

    @contextlib.contextmanager
    def _transaction(self, immediate: bool = True) -> Iterator[None]:
        if self._db.in_transaction:  # inside a batch, which commits or rolls back for all
            yield
            return
        self._db.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")


def _spans(marked: str, text: str) -> list[tuple[int, int]]:
    """The (start, end) in `text` of each word `highlight()` marked in `marked`; none if `text`
    itself holds a mark character (then the marks cannot be told apart)."""
    spans: list[tuple[int, int]] = []
    at, start = 0, 0
    for piece in re.split(f"([{_OPEN}{_CLOSE}])", marked):
        if piece == _OPEN:
            start = at
        elif piece == _CLOSE:
            spans.append((start, at))
        else:
            at += len(piece)
    return spans if marked.replace(_OPEN, "").replace(_CLOSE, "") == text else []


def _statements(script: str) -> list[str]:
    """The statements of `_SCHEMA` (triggers contain `;`, so split on `;` only at a line end
    outside BEGIN … END)."""
    statements, current = [], ""
    for line in script.strip().splitlines(keepends=True):
        current += line
        if line.rstrip().endswith(";") and (current.count("BEGIN") == current.count("END;")):
            statements.append(current.strip())
            current = ""
    return statements


class BuildLock:
    """An exclusive lock on the index's building, between kernels (a lock file beside it).
    `acquire` calls `waiting()` now and then while another kernel holds it."""

    def __init__(self, index_path: Path) -> None:
        self.path = Path(f"{index_path}.lock")

    @contextlib.contextmanager
    def held(self, waiting: Callable[[], None] = lambda: None) -> Iterator[None]:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    waiting()
                    time.sleep(0.1)
            yield
        finally:
            os.close(fd)  # closing releases the lock
