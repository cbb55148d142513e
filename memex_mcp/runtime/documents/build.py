"""Indexing: find the documents under a directory, and bring the index up to date for them.

A file is extracted again only when its size or modification time changed since it was cached
(any kernel of the state dir may have cached it). Files that cannot be read are cached too, with
the reason, so an unchanged broken file is not tried again at every start.

A file that hangs its reader must not hang every build. In a worker process it is given up after
`workers.STALL_SECONDS` without progress, so PDFs, whose reader is a C library that a malformed
file can send into an endless loop, are always read in a worker (one for a few small files: it
starts in about 0.1 s), never in this process, where a hang could not be stopped: the indexing
thread would hold the build, and every cell waiting for it, until the kernel is restarted. Other
formats, read by Python code, are read here when there is little to read. So that a hang here
cannot come back either (a PDF read here because no worker could start, or another format), the
path, size and modification time of the file being read here are written to a marker beside the
index, and cleared after. A build that finds a marker left (the kernel was interrupted, killed or
restarted while reading that file) reads that file in a worker process, under the time limit; and
where no worker can start, skips it with `INTERRUPTED`. Reading it again rather than skipping it
at once keeps a good file whose read was only cut short by an unrelated restart.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections import deque
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from memex_mcp.runtime.documents.dates import DocDate, publication_date
from memex_mcp.runtime.documents.errors import DocumentError
from memex_mcp.runtime.documents.extract import PDF, read, read_pdf_range, supported
from memex_mcp.runtime.documents.index import BuildLock, FileRecord, Index
from memex_mcp.runtime.documents.workers import STALL_SECONDS, extract_all
from memex_mcp.runtime.walk import files

#: Pages extracted in one run after which the index is optimised (it rewrites the whole index:
#: about 0.13 s per 10,000 pages).
OPTIMIZE_AFTER = 1000
#: Bytes of files to extract from which worker processes pay for their start (a new interpreter
#: that imports the extractors: about 0.3 s; a second of reading is about 300 PDF pages, or 1 MB).
POOL_BYTES = 2**20
#: Most worker processes, whatever the cores: the index is written by one process all the same.
MAX_WORKERS = 8
#: Pages stored in one transaction.
BATCH_PAGES = 2000
#: Pages of a PDF read as one part when several workers extract: a 3,000-page PDF is read by all
#: of them rather than by one while the others wait (a part is 0.5 to 2 s of reading; each opens
#: the file again, which takes milliseconds).
PART_PAGES = 500
#: progress(done, total, message)
OnProgress = Callable[[int, int, str], None]
#: Why a file was skipped when an earlier read of it in the kernel never ended and no worker
#: process could read it under a time limit instead.
INTERRUPTED = (
    "an earlier read of it never finished (the kernel was interrupted, restarted or killed while reading "
    "it): the file probably hangs the reader; convert it (e.g. print it to a new PDF) or remove it from the data dir"
)


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
    `skipped` ones (unreadable: see `docs.list()`), its duration, and how many processes extracted."""

    files: int = 0
    extracted: int = 0
    unchanged: int = 0
    skipped: int = 0
    pages: int = 0
    seconds: float = 0.0
    #: Processes that extracted the files (1: this one, or one worker process).
    workers: int = 1
    #: (doc id, why) of each file skipped in this run.
    problems: list[tuple[str, str]] = field(default_factory=list)

    def __repr__(self) -> str:
        processes = f" by {self.workers} worker processes" if self.workers > 1 else ""
        return (
            f"indexed {self.files:,} files ({self.pages:,} pages) in {self.seconds:.1f} s{processes}: "
            f"{self.extracted:,} extracted, {self.unchanged:,} unchanged since cached, {self.skipped:,} skipped"
        )


def index_files(
    index: Index,
    sources: Iterable[tuple[str, Path]],
    on_progress: OnProgress,
    waiting: Callable[[], None] = lambda: None,
    *,
    workers: int | None = None,
    batch_pages: int = BATCH_PAGES,
) -> tuple[dict[str, FileRecord], Indexing]:
    """Bring `index` up to date for `sources` (doc id, path); their records by doc id, and the counts.
    Holds the build lock meanwhile, so kernels sharing the cache index one at a time; `waiting()`
    is called while another kernel holds it. The files to extract are read in `workers` processes
    (default: as many as this process's cores when there is enough to read, see `pool_size`; else
    this one, but any PDF in one worker, see the module doc; 1: this one), and stored `batch_pages`
    pages to a transaction (0: each file in its own)."""
    started = time.perf_counter()
    sources = list(sources)
    total = len(sources)
    records: dict[str, FileRecord] = {}
    run = Indexing(files=total)
    with BuildLock(index.path).held(waiting):
        jobs: list[Job] = []
        for doc_id, path in sources:
            found = _cached(index, doc_id, path)
            if isinstance(found, Job):
                jobs.append(found)
            else:
                records[doc_id] = found
        run.unchanged = len(records)
        on_progress(len(records), total, f"indexing documents: {len(records):,} of {total:,} files")
        batch: list[tuple[Job, Extraction]] = []

        def store() -> None:
            with index.batch():
                for job, got in batch:
                    records[job.doc_id] = index.store(
                        got.path, got.size, got.mtime_ns, got.pages, got.reason, got.labels, got.dated
                    )
            batch.clear()

        marker = ReadMarker(index.path)
        unfinished = marker.left()
        suspect = [job for job in jobs if (job.key, job.size, job.mtime_ns) == unfinished]
        run.workers = pool_size(jobs) if workers is None else workers
        # A PDF, or a file whose read here never ended, is read in a worker, where a hang has a limit.
        pdfs = workers is None and any(job.source.suffix.lower() in PDF for job in jobs)
        processes = run.workers if run.workers > 1 else (1 if suspect or pdfs else 0)
        if processes > 1:  # the largest first, so that no worker is left with a long one at the end
            jobs.sort(key=lambda job: job.size, reverse=True)

        def here(job: Job) -> Extraction:
            if (job.key, job.size, job.mtime_ns) == unfinished:  # no worker could start: it might hang again
                return _crashed(job, INTERRUPTED)
            with marker.reading(job):
                return extract_file(job)

        # Several workers share a long PDF's pages; one process reads it whole.
        queue = deque(Parts.first(job) if processes > 1 else job for job in jobs)
        parts = Parts(queue)
        for part, read_part in extract_all(queue, extract_file, _crashed, processes, here=here, stall=STALL_SECONDS):
            if (whole := parts.done(part, read_part)) is None:
                continue
            job, got = whole
            batch.append((job, got))
            if sum(len(g.pages or ()) for _, g in batch) >= batch_pages:
                store()
            done = len(records) + len(batch)
            on_progress(done, total, f"indexing documents: {done:,} of {total:,} files ({job.doc_id})")
        if batch:
            store()
        marker.clear()  # what it named is stored now (or no longer to be read: changed, deleted)
        run.extracted = len(jobs)
        index.forget(os.path.exists)
        if sum(records[job.doc_id].pages for job in jobs) >= OPTIMIZE_AFTER:
            on_progress(total, total, "optimising the document index")
            index.optimize()
    records = {doc_id: records[doc_id] for doc_id, _ in sources}
    for doc_id, record in records.items():
        run.pages += record.pages
        if record.status == "skipped":
            run.skipped += 1
            run.problems.append((doc_id, record.reason))
    on_progress(total, total, f"indexed {total:,} files")
    run.seconds = time.perf_counter() - started
    return records, run


def pool_size(jobs: Sequence[Job]) -> int:
    """How many processes extract `jobs`: one (this one) for a few small files, where starting
    workers would cost more than it saves; else one per core this process may use, at most `MAX_WORKERS`."""
    if len(jobs) < 2 or sum(job.size for job in jobs) < POOL_BYTES:
        return 1
    return max(1, min(len(os.sched_getaffinity(0)), MAX_WORKERS, len(jobs)))


@dataclass(frozen=True)
class Job:
    """A file to extract: `source` as found, `key` its resolved path (the cache's key); or, `stop`
    set, its pages `start` to `stop` (exclusive): a part of a long PDF."""

    doc_id: str
    source: Path
    key: str
    size: int
    mtime_ns: int
    start: int = 0
    stop: int | None = None


@dataclass(frozen=True)
class Extraction:
    """Everything the index stores for one version of a file: its pages and their printed labels,
    or (`pages` None) the reason it was skipped; `reason` also says why a file has no text."""

    path: str
    size: int
    mtime_ns: int
    pages: list[str] | None
    labels: list[str]
    reason: str
    dated: DocDate | None = None
    #: The file's pages, when this is a part of it.
    total: int = 0


def extract_file(job: Job) -> Extraction:
    """Read one file (in a worker process, or in this one): what the index stores for it. A file
    that cannot be read gives its reason, never an exception."""
    try:
        if job.stop is None:
            extracted = read(job.source)
            total = len(extracted.pages)
        else:
            extracted, total = read_pdf_range(job.source, job.start, job.stop)
    except DocumentError as exc:
        return Extraction(job.key, job.size, job.mtime_ns, None, [], str(exc))
    pages = extracted.pages
    reason = "" if any(p.strip() for p in pages) else _no_text(job.source, total)
    # Dated once, by the part that has the first page (the metadata is the whole file's).
    dated = publication_date(job.source, pages[0] if pages else "") if job.start == 0 else None
    return Extraction(job.key, job.size, job.mtime_ns, pages, extracted.labels, reason, dated, total)


class Parts:
    """Long PDFs read in parts by several workers: each PDF's first job reads its first
    `PART_PAGES` pages and learns how many it has; the rest are then queued as parts of their own,
    first in line, and the parts' pages joined in order once all are in. A part that cannot be
    read (its worker crashed or hung) has the whole file skipped with its reason."""

    def __init__(self, queue: deque[Job]) -> None:
        self.queue = queue
        self._pending: dict[str, tuple[Job, dict[int, Extraction], int]] = {}

    @staticmethod
    def first(job: Job) -> Job:
        """The job that reads `job`'s file, first part only if it is a PDF."""
        pdf = job.source.suffix.lower() in PDF and job.size > 0
        return replace(job, stop=PART_PAGES) if pdf else job

    def done(self, job: Job, got: Extraction) -> tuple[Job, Extraction] | None:
        """The whole file's job and extraction once `job`, a file or a part, completes it; else None."""
        if job.stop is None:
            return job, got
        if job.start == 0:
            if got.pages is None or got.total <= job.stop:
                return replace(job, stop=None), got
            rest = [replace(job, start=n, stop=n + PART_PAGES) for n in range(job.stop, got.total, PART_PAGES)]
            self.queue.extendleft(reversed(rest))
            self._pending[job.key] = (job, {0: got}, len(rest) + 1)
            return None
        head, parts, expected = self._pending[job.key]
        parts[job.start] = got
        if len(parts) < expected:
            return None
        del self._pending[job.key]
        ordered = [parts[n] for n in sorted(parts)]
        whole = replace(head, stop=None)
        if failed := [part for part in ordered if part.pages is None]:
            return whole, replace(failed[0], labels=[], dated=None)
        pages = [page for part in ordered for page in part.pages or ()]
        labels = [label for part in ordered for label in part.labels]
        reason = "" if any(p.strip() for p in pages) else _no_text(head.source, len(pages))
        return whole, replace(parts[0], pages=pages, labels=labels, reason=reason, total=len(pages))


class ReadMarker:
    """The file being read in this process, in a file beside the index (see the module doc). Only
    the kernel holding the build lock writes it."""

    def __init__(self, index_path: Path) -> None:
        self.path = Path(f"{index_path}.reading")

    def left(self) -> tuple[str, int, int] | None:
        """(path, size, mtime_ns) of the file whose read here never finished, if any."""
        try:
            found = json.loads(self.path.read_text())
            return str(found["path"]), int(found["size"]), int(found["mtime_ns"])
        except (OSError, ValueError, KeyError, TypeError):  # none, or cut short while written
            return None

    @contextlib.contextmanager
    def reading(self, job: Job) -> Iterator[None]:
        """Marks `job`'s file as being read while the block runs; the mark stays if it never ends
        normally (an interrupt too: it may have been sent to stop a hang)."""
        with contextlib.suppress(OSError):  # unwritable: read it all the same
            self.path.write_text(json.dumps({"path": job.key, "size": job.size, "mtime_ns": job.mtime_ns}))
        yield
        self.clear()

    def clear(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink(missing_ok=True)


def _crashed(job: Job, why: str) -> Extraction:
    return Extraction(job.key, job.size, job.mtime_ns, None, [], why)


def _cached(index: Index, doc_id: str, path: Path) -> FileRecord | Job:
    """The file's cached record if the cache has this version (or it cannot be opened: a skipped
    record), else the job of extracting it."""
    key = str(path.resolve())
    try:
        stat = path.stat()
    except OSError as exc:
        return FileRecord(-1, key, 0, 0, "skipped", f"cannot open: {exc.strerror or exc}", 0, 0)
    cached = index.lookup(key)
    if cached is not None and (cached.size, cached.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
        return cached
    return Job(doc_id, path, key, stat.st_size, stat.st_mtime_ns)


def _no_text(path: Path, pages: int) -> str:
    if not pages:
        return "the file is empty"
    scanned = " (scanned? it would need OCR)" if path.suffix.lower() == ".pdf" else ""
    return f"no text on its {pages} page(s){scanned}"
