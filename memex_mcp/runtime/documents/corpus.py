"""`docs`: the documents of the data dirs (and those added at run time), searchable by BM25.

Doc ids: a file's path relative to its data dir, with `/` (`reports/q3_2025.pdf`). A file added with
`docs.add(path)` outside the data dirs gets the path relative to `path`'s parent (a file: its name;
a directory `d`: `d/…`). Every file has its own id: when another file has that id already (data
dirs `/a/reports` and `/b/reports` both hold `q3.pdf`), the later file's id is the shortest longer
tail of its path that is free (`reports/q3.pdf`, then `b/reports/q3.pdf`). A file reached twice (a
data dir inside another, a link) is one document.

Indexing starts in a background thread when the kernel starts. Every call that needs the index
waits for it, reporting progress from the cell's thread, and then prints, once, which files were
skipped and why.
"""

from __future__ import annotations

import builtins
import math
import re
import threading
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from memex_mcp.clock import SYSTEM, Clock
from memex_mcp.protocol import RuntimeConfig
from memex_mcp.runtime.documents.errors import DocumentError, UnknownDocument
from memex_mcp.runtime.progress import State, cell_reporter, wait_with_progress

if TYPE_CHECKING:
    import pandas

    from memex_mcp.runtime.documents.build import Indexing, OnProgress
    from memex_mcp.runtime.documents.filters import Scope
    from memex_mcp.runtime.documents.hits import Document, DocumentHits, Hit, Hits, Match, Matches
    from memex_mcp.runtime.documents.index import FileRecord, Index, PageHit
    from memex_mcp.runtime.documents.periods import Period

# The kernel creates `docs` at start; the modules that do the work (and their dataclasses, regular
# expressions, SQLite) are imported when first used, mostly by the indexing thread.

INDEX_FILE = "documents.sqlite3"
#: Skip reports printed at once; the rest are counted (all are in `docs.list()`).
SHOWN_PROBLEMS = 10
#: Waits shorter than this report no progress; nor is progress reported more often.
_QUIET = 0.2


class Corpus:
    """The document corpus; `docs` in every kernel."""

    def __init__(self, config: RuntimeConfig, clock: Clock = SYSTEM) -> None:
        self._clock = clock
        self._roots = [Path(d) for d in config.data_dirs]
        self._index_path = Path(config.cache_dir) / INDEX_FILE
        self._index: Index | None = None
        self._records: dict[str, FileRecord] = {}
        #: The records the dates were read from, each file's date by file id, their first and last year.
        self._dated: tuple[dict[str, FileRecord], dict[int, Period | None], tuple[int, int] | None] | None = None
        self._added: list[tuple[str, Path]] = []
        self._unreported: list[tuple[str, str]] = []
        #: (doc id, why) of every skip reported in this kernel: a file is reported again only if
        #: it fails for another reason.
        self._reported: set[tuple[str, str]] = set()
        self._last: Indexing | None = None
        self._failure: BaseException | None = None
        self._state: tuple[int, int, str] = (0, 0, "indexing documents: looking for files")
        self._done = threading.Event()
        self._lock = threading.RLock()  # one indexing at a time in this kernel

    def start(self) -> None:
        """Index the data dirs in a background thread (at once done when there are none)."""
        if not self._roots:
            self._done.set()
            return
        threading.Thread(target=self._background, name="memex-docs-index", daemon=True).start()

    def _background(self) -> None:
        try:
            self._refresh(self._on_state)
        except BaseException as exc:  # reported by the first call that waits
            self._failure = exc
        finally:
            self._done.set()

    def _on_state(self, done: int, total: int, message: str) -> None:
        self._state = (done, total, message)

    # --- the public interface -------------------------------------------------------------

    def search(
        self,
        query: str,
        k: int = 10,
        files: str | None = None,
        after: date | str | None = None,
        before: date | str | None = None,
        per_doc: int | None = None,
    ) -> Hits:
        """The `k` pages that best match `query` (any text: a question, keywords, "a phrase"), best
        first by BM25. When `query` names periods ("in fiscal year 1954", "as of March 31, 2025",
        "Q3 2024"; a two-digit year, as in "FY48", in the century of the searched documents'
        dates), pages of documents dated in or shortly after them come first, and a document with
        several matching pages before a lucky page of another; otherwise the order is BM25's.
        `files`: a glob over doc ids ("reports/*.pdf", "*2024*"); `after`/`before`: only documents
        dated within them, both inclusive (a `datetime.date`, "2024", "2024-03" or "2024-03-31";
        undated documents are left out); `per_doc`: at most that many pages of a document. Each hit
        prints as one line; `hit.text` is the whole page."""
        from memex_mcp.runtime.documents import ranking
        from memex_mcp.runtime.documents.filters import count, count_or_none, scope
        from memex_mcp.runtime.documents.hits import Hits
        from memex_mcp.runtime.documents.index import fts_query

        k, per_doc, chosen = count("k", k), count_or_none("per_doc", per_doc), scope(files, after, before)
        index = self._ready()
        ids, dates, text = self._ids_by_file(), self._dates(), fts_query(query)
        in_scope = self._in_scope(chosen, ids, dates)
        asked = self._asked(query, in_scope, dates)
        if not asked and in_scope is None and per_doc is None:
            return Hits([self._hit(h, ids) for h in index.search(text, k, ids)], query)
        found = ranking.search(index, text, asked, k, ids, dates, in_scope, per_doc)
        return Hits([self._hit(h, ids) for h in found], query)

    def search_documents(
        self,
        query: str,
        k: int = 10,
        files: str | None = None,
        after: date | str | None = None,
        before: date | str | None = None,
    ) -> DocumentHits:
        """The `k` documents that best match `query`, best first, each with its best pages as
        evidence (`.pages`): a document scores as its best page, helped by its other matching pages
        and, when `query` names periods, by being dated in or shortly after them (as `search`).
        `files`, `after` and `before` choose the documents as in `search`: a glob over doc ids,
        and dates both inclusive (undated documents are left out when either is given)."""
        from memex_mcp.runtime.documents import ranking
        from memex_mcp.runtime.documents.filters import count, scope
        from memex_mcp.runtime.documents.hits import DocumentHit, DocumentHits, Hits
        from memex_mcp.runtime.documents.index import fts_query

        k, chosen = count("k", k), scope(files, after, before)
        index = self._ready()
        ids, dates = self._ids_by_file(), self._dates()
        in_scope = self._in_scope(chosen, ids, dates)
        asked = self._asked(query, in_scope, dates)
        found = []
        ranked = ranking.search_documents(index, fts_query(query), asked, k, ids, dates, in_scope)
        for file_id, score, best in ranked:
            dated = dates[file_id]
            hits = Hits([self._hit(h, ids) for h in best], query)
            start, label = (dated.start, dated.label) if dated else (None, "")
            found.append(DocumentHit(ids[file_id], start, label, round(score, 3), hits))
        return DocumentHits(found, query)

    def grep(self, pattern: str | re.Pattern[str], flags: int = 0) -> Matches:
        """Every line matching the regular expression `pattern` (`re.search`; pass `flags=re.I` or
        `(?i)` to ignore case), in document and page order."""
        from memex_mcp.runtime.documents.hits import Match, Matches

        regex = re.compile(pattern, flags)
        index = self._ready()
        ids = self._ids_by_file()
        found: list[Match] = []
        for file_id, page, text, label in index.member_pages():
            for m in regex.finditer(text):
                start = text.rfind("\n", 0, m.start()) + 1
                end = text.find("\n", m.end())
                line = text[start : end if end >= 0 else len(text)]
                if not found or (found[-1].doc, found[-1].page, found[-1].line) != (ids[file_id], page, line):
                    found.append(Match(ids[file_id], page, line, m.group(), label))
        return Matches(found, regex.pattern)

    def list(self) -> pandas.DataFrame:
        """One row per document: id, file (its name), pages, chars, status (ok, empty, skipped),
        reason, date (a `datetime.date` or None), period (the date's precision, as
        `Document.period`), date_from ("name", "first page", "metadata" or ""), path (absolute)."""
        import pandas

        self._ready()
        rows = []
        for doc_id, r in sorted(self._records.items()):
            dated = r.dated
            when = (dated.period.start, dated.period.label, dated.source) if dated else (None, "", "")
            rows.append((doc_id, Path(r.path).name, r.pages, r.chars, r.status, r.reason, *when, r.path))
        columns = ["id", "file", "pages", "chars", "status", "reason", "date", "period", "date_from", "path"]
        return pandas.DataFrame(rows, columns=columns)

    def __getitem__(self, key: str | Hit | Match) -> Document:
        """The document with this doc id (or file name, when only one document has it), or the
        document of a hit or match (`docs[hit].page(hit)` is the hit's page)."""
        from memex_mcp.runtime.documents.hits import Document, Hit, Match

        self._ready()
        doc_id = key.doc if isinstance(key, Hit | Match) else self._resolve(key)
        record = self._records[doc_id]
        if record.status == "skipped":
            raise DocumentError(f"{doc_id} was skipped: {record.reason}")
        assert self._index is not None
        dated = record.dated
        when = (dated.period.start, dated.period.label, dated.source) if dated else (None, "", "")
        return Document(doc_id, Path(record.path), *self._index.pages(record.id), *when)

    def add(self, path: str | Path) -> builtins.list[str]:
        """Index a file, or every document under a directory, now; returns their doc ids. Files
        that cannot be read are reported and skipped."""
        from memex_mcp.runtime.documents.build import scan

        target = Path(path).expanduser().resolve()
        if not target.exists():
            raise FileNotFoundError(f"no such file or directory: {path}")
        found = scan(target)
        if not found:
            raise DocumentError(f"no documents in {path}: docs reads PDF, DOCX, HTML, Markdown and text files")
        self._ready()
        sources: builtins.list[tuple[str, Path]] = []
        for rel, p in found:
            sources.append((self._new_id(rel, p, target, {doc_id for doc_id, _ in sources}), p))
        with self._lock:
            self._added += [s for s in sources if s not in self._added]
        self._refresh(self._progress_here(), only=sources)
        self._print_problems()
        return [doc_id for doc_id, _ in sources if self._records[doc_id].status != "skipped"]

    def refresh(self) -> Indexing:
        """Look at the data dirs (and added files) again: index new and changed files, drop deleted ones."""
        self._ready()
        run = self._refresh(self._progress_here())
        self._print_problems()
        return run

    def __len__(self) -> int:
        self._ready()
        return len(self._records)

    def __contains__(self, key: object) -> bool:
        self._ready()
        return key in self._records

    def __repr__(self) -> str:
        if not self._done.is_set():
            return (
                f"<docs: {self._state[2]}; docs.search(query, k=10), docs.search_documents(query), docs.list(), "
                "docs[doc_id]>"
            )
        skipped = sum(r.status == "skipped" for r in self._records.values())
        pages = sum(r.pages for r in self._records.values())
        last = f"; last {self._last!r}" if self._last else ""
        return (
            f"<docs: {len(self._records) - skipped:,} documents, {pages:,} pages, {skipped} skipped{last}. "
            "docs.search(query, k=10), docs.search_documents(query), docs.grep(pattern), docs.list(), docs[doc_id], "
            "docs.add(path)>"
        )

    # --- indexing --------------------------------------------------------------------------

    def _ready(self) -> Index:
        """Wait for the start-up indexing, reporting its progress; print what it skipped, once."""
        if not self._done.is_set():
            wait_with_progress([self._done], self._progress, quiet=_QUIET, clock=self._clock)
        if self._failure is not None:
            raise DocumentError(f"the document index could not be built: {self._failure!r}") from self._failure
        self._print_problems()
        return self._open()

    def _progress(self) -> State:
        done, total, message = self._state
        return done, total or None, message

    def _open(self) -> Index:
        from memex_mcp.runtime.documents.index import Index

        with self._lock:
            if self._index is None:
                self._index = Index(self._index_path)
            return self._index

    def _refresh(self, on_progress: OnProgress, only: builtins.list[tuple[str, Path]] | None = None) -> Indexing:
        from memex_mcp.runtime.documents.build import index_files

        with self._lock:
            index = self._open()
            sources = only if only is not None else self._sources()

            def waiting() -> None:
                on_progress(0, len(sources), "waiting for another session that is indexing the same cache")

            records, run = index_files(index, sources, on_progress, waiting)
            # A new dict, never an update in place: other threads (sub-agents) read it unlocked.
            self._records = records if only is None else {**self._records, **records}
            index.set_members(r.id for r in self._records.values())
            self._last = run
            self._unreported += [p for p in run.problems if p not in self._reported]
            self._reported.update(run.problems)
            return run

    def _sources(self) -> builtins.list[tuple[str, Path]]:
        """The data dirs' documents, then the added ones, each under its doc id."""
        from memex_mcp.runtime.documents.build import scan, unique_id

        sources: dict[str, Path] = {}
        files: set[Path] = set()
        scanned = [source for root in self._roots for source in scan(root)]
        for preferred, path in scanned + [(doc_id, path) for doc_id, path in self._added if path.exists()]:
            if (file := path.resolve()) not in files:
                files.add(file)
                sources[unique_id(path, preferred, sources)] = path
        return list(sources.items())

    def _new_id(self, rel: str, path: Path, target: Path, taken: set[str]) -> str:
        """The id of a file that `add` found (`rel`: relative to `target`): the one it has if it is
        indexed already, else a new one that neither the corpus nor `taken` has."""
        from memex_mcp.runtime.documents.build import unique_id

        file = str(path.resolve())
        for doc_id, record in self._records.items():
            if record.path == file:
                return doc_id
        preferred = f"{target.name}/{rel}" if target.is_dir() else rel
        for root in self._roots:
            if path.is_relative_to(root.resolve()):
                preferred = path.relative_to(root.resolve()).as_posix()
                break
        return unique_id(path, preferred, taken | self._records.keys())

    def _progress_here(self) -> OnProgress:
        """Progress reported from the cell's own thread, at most every `_QUIET` seconds."""
        report = cell_reporter()
        last = [-math.inf]

        def on_progress(done: int, total: int, message: str) -> None:
            if report is not None and ((now := self._clock.monotonic()) - last[0] >= _QUIET or done == total):
                last[0] = now
                report(done, total or None, message)

        return on_progress

    def _print_problems(self) -> None:
        with self._lock:
            problems, self._unreported = self._unreported, []
        if not problems:
            return
        lines = [f"docs: skipped {len(problems)} file(s) that cannot be read (docs.list() shows them all):"]
        lines += [f"  {doc_id}: {why}" for doc_id, why in problems[:SHOWN_PROBLEMS]]
        if len(problems) > SHOWN_PROBLEMS:
            lines.append(f"  … and {len(problems) - SHOWN_PROBLEMS} more")
        print("\n".join(lines))

    def _ids_by_file(self) -> dict[int, str]:
        return {r.id: doc_id for doc_id, r in self._records.items()}

    def _in_scope(
        self, chosen: Scope, ids: dict[int, str], dates: dict[int, Period | None]
    ) -> builtins.list[int] | None:
        """The file ids a search may return (None: all), after checking that `files` matches a doc id."""
        from memex_mcp.runtime.documents.filters import matching

        if chosen.files is not None:
            matching(chosen.files, self._records)
        return None if chosen.everything else [i for i, d in ids.items() if chosen.admits(d, dates[i])]

    def _asked(
        self, query: str, in_scope: builtins.list[int] | None, dates: dict[int, Period | None]
    ) -> builtins.list[Period]:
        """The periods `query` names; a two-digit year takes the century of the searched documents'
        dates: those in scope when a filter chose them (and some are dated), else the corpus's."""
        from memex_mcp.runtime.documents.periods import periods, years_of

        if not any(ch.isdigit() for ch in query):  # no period without a digit: spare the scope's years
            return []
        years = years_of(dates[i] for i in in_scope) if in_scope is not None else None
        return periods(query, years or self._years())

    def _dates(self) -> dict[int, Period | None]:
        """Each file's date period by file id, read once per set of records (a refresh replaces it)."""
        return self._dated_now()[1]

    def _years(self) -> tuple[int, int] | None:
        """The first and last year the documents are dated in (None: none is dated): the century of
        a two-digit year in a question ("FY48" in a corpus of 1940s bulletins is 1948)."""
        return self._dated_now()[2]

    def _dated_now(self) -> tuple[dict[str, FileRecord], dict[int, Period | None], tuple[int, int] | None]:
        from memex_mcp.runtime.documents.periods import years_of

        records, cached = self._records, self._dated
        if cached is None or cached[0] is not records:
            dates = {r.id: (dated.period if (dated := r.dated) else None) for r in records.values()}
            cached = (records, dates, years_of(dates.values()))
            self._dated = cached
        return cached

    @staticmethod
    def _hit(h: PageHit, ids: dict[int, str]) -> Hit:
        from memex_mcp.runtime.documents.hits import Hit

        return Hit(ids[h.file_id], h.page, round(h.score, 3), h.snippet, h.text, h.offset, h.label)

    def _resolve(self, key: str) -> str:
        import difflib

        if key in self._records:
            return key
        by_name = [doc_id for doc_id, r in self._records.items() if Path(r.path).name == key]
        if len(by_name) == 1:
            return by_name[0]
        close = difflib.get_close_matches(key, list(self._records), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        if len(by_name) > 1:
            hint = f"; several documents have that name: {', '.join(map(repr, by_name[:5]))}"
        raise UnknownDocument(f"no document {key!r} in docs{hint} (docs.list() shows every doc id)")


def read_document(path: str | Path) -> Document:
    """Read one PDF, DOCX, HTML, Markdown or text file without indexing it."""
    from memex_mcp.runtime.documents.dates import publication_date
    from memex_mcp.runtime.documents.extract import read
    from memex_mcp.runtime.documents.hits import Document

    target = Path(path).expanduser()
    if not target.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        extracted = read(target)
    except DocumentError as exc:
        raise DocumentError(f"cannot read {path}: {exc}") from exc
    dated = publication_date(target, extracted.pages[0] if extracted.pages else "")
    when = (dated.period.start, dated.period.label, dated.source) if dated else (None, "", "")
    return Document(str(path), target.resolve(), extracted.pages, extracted.labels, *when)
