"""Indexing: find the documents under a directory, and bring the index up to date for them.

A file is extracted again only when its size or modification time changed since it was cached
(any kernel of the state dir may have cached it). Files that cannot be read are cached too, with
the reason, so an unchanged broken file is not tried again at every start.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from memex_mcp.runtime.documents.dates import publication_date
from memex_mcp.runtime.documents.errors import DocumentError
from memex_mcp.runtime.documents.extract import read, supported
from memex_mcp.runtime.documents.index import BuildLock, FileRecord, Index
from memex_mcp.runtime.walk import files

#: Pages extracted in one run after which the index is optimised (it rewrites the whole index:
#: about 0.13 s per 10,000 pages).
OPTIMIZE_AFTER = 1000
#: progress(done, total, message)
OnProgress = Callable[[int, int, str], None]


def scan(root: Path) -> list[tuple[str, Path]]:
    """(doc id, path) of every document under `root` (see `walk.files`). The id is the path
    relative to `root`, with `/`. A single file that is not a document is left out (`root` itself
    may be a file: its id is its name)."""
    if root.is_file():
        return [(root.name, root)] if supported(root) else []
    return [(path.relative_to(root).as_posix(), path) for path in files(root) if supported(path)]


def unique_id(path: Path, preferred: str, taken: Container[str]) -> str:
    """`preferred` (a tail of `path`: `reports/q3.pdf`) if no other document has it, else the
    shortest longer tail of `path`'s absolute path that none has (`b/reports/q3.pdf`), else that
    absolute path. So every file has its own id, and the id tells where it is."""
    if preferred not in taken:
        return preferred
    parts = Path(os.path.abspath(path)).parts
    for n in range(len(PurePosixPath(preferred).parts) + 1, len(parts)):
        tail = "/".join(parts[-n:])
        if tail not in taken:
            return tail
    return Path(os.path.abspath(path)).as_posix()


@dataclass
class Indexing:
    """What one indexing run did: files `extracted` now, `unchanged` ones taken from the cache,
    `skipped` ones (unreadable: see `docs.list()`), and its duration."""

    files: int = 0
    extracted: int = 0
    unchanged: int = 0
    skipped: int = 0
    pages: int = 0
    seconds: float = 0.0
    #: (doc id, why) of each file skipped in this run.
    problems: list[tuple[str, str]] = field(default_factory=list)

    def __repr__(self) -> str:
        return (
            f"indexed {self.files:,} files ({self.pages:,} pages) in {self.seconds:.1f} s: "
            f"{self.extracted:,} extracted, {self.unchanged:,} unchanged since cached, {self.skipped:,} skipped"
        )


def index_files(
    index: Index,
    sources: Iterable[tuple[str, Path]],
    on_progress: OnProgress,
    waiting: Callable[[], None] = lambda: None,
) -> tuple[dict[str, FileRecord], Indexing]:
    """Bring `index` up to date for `sources` (doc id, path); their records by doc id, and the counts.
    Holds the build lock meanwhile, so kernels sharing the cache index one at a time; `waiting()`
    is called while another kernel holds it."""
    started = time.perf_counter()
    sources = list(sources)
    records: dict[str, FileRecord] = {}
    run = Indexing(files=len(sources))
    fresh: set[str] = set()
    with BuildLock(index.path).held(waiting):
        for done, (doc_id, path) in enumerate(sources):
            on_progress(done, len(sources), f"indexing documents: {done:,} of {len(sources):,} files ({doc_id})")
            record, extracted = _index_one(index, path)
            records[doc_id] = record
            run.extracted += extracted
            if extracted:
                fresh.add(doc_id)
            run.unchanged += not extracted
            run.pages += record.pages
            if record.status == "skipped":
                run.skipped += 1
                run.problems.append((doc_id, record.reason))
        index.forget(os.path.exists)
        if sum(records[doc_id].pages for doc_id, _ in sources if doc_id in fresh) >= OPTIMIZE_AFTER:
            on_progress(len(sources), len(sources), "optimising the document index")
            index.optimize()
    on_progress(len(sources), len(sources), f"indexed {len(sources):,} files")
    run.seconds = time.perf_counter() - started
    return records, run


def _index_one(index: Index, path: Path) -> tuple[FileRecord, bool]:
    """The file's record, and whether it was extracted now (False: the cache had this version)."""
    key = str(path.resolve())
    try:
        stat = path.stat()
    except OSError as exc:
        return FileRecord(-1, key, 0, 0, "skipped", f"cannot open: {exc.strerror or exc}", 0, 0), False
    cached = index.lookup(key)
    if cached is not None and (cached.size, cached.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
        return cached, False
    try:
        extracted = read(path)
    except DocumentError as exc:
        return index.store(key, stat.st_size, stat.st_mtime_ns, None, str(exc)), True
    pages = extracted.pages
    reason = "" if any(p.strip() for p in pages) else _no_text(path, len(pages))
    dated = publication_date(path, pages[0] if pages else "")
    return index.store(key, stat.st_size, stat.st_mtime_ns, pages, reason, extracted.labels, dated), True


def _no_text(path: Path, pages: int) -> str:
    if not pages:
        return "the file is empty"
    scanned = " (scanned? it would need OCR)" if path.suffix.lower() == ".pdf" else ""
    return f"no text on its {pages} page(s){scanned}"
