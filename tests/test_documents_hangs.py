"""A file that hangs its reader costs that file only: a worker stuck on it is killed after the time
limit and the files queued behind it are read by another, a job that keeps making progress is never
given up, and a kernel killed while reading a file in its own process gets that file read in a
worker process, under the limit, by the next build."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from pathlib import Path

import anyio
import pytest
from conftest import kill, run, settings, text_of
from documents_build_jobs import crashed, plod, shout
from mcp import Client
from test_documents_build import repeating_pdf, worker_processes

from memex_mcp.runtime.documents.build import (
    INTERRUPTED,
    PART_PAGES,
    Job,
    Parts,
    ReadMarker,
    extract_file,
    index_files,
    scan,
)
from memex_mcp.runtime.documents.build import _crashed as crashed_part
from memex_mcp.runtime.documents.index import Index
from memex_mcp.runtime.documents.workers import CRASHED, extract_all, hung
from memex_mcp.server import build_server


def test_a_file_that_hangs_its_worker_is_given_up_with_the_reason_and_the_others_are_extracted() -> None:
    jobs = [f"file{n}" for n in range(12)]
    jobs.insert(3, "hang")
    started = time.monotonic()
    results = dict(extract_all(jobs, shout, crashed, 2, stall=2))
    assert results == {job: f"hang: {hung(2)}" if job == "hang" else job.upper() for job in jobs}
    assert "took over 2 s" in hung(2) and "remove it" in hung(2)
    assert worker_processes(os.getpid()) == set()
    assert time.monotonic() - started < 60  # a sanity bound: the hang itself never ends


def test_hanging_and_crashing_files_in_one_build_are_each_skipped_with_their_own_reason() -> None:
    jobs = ["a", "hang", "b", "poison", "c", "d"]
    results = dict(extract_all(jobs, shout, crashed, 1, stall=2))
    assert results == {
        "a": "A",
        "hang": f"hang: {hung(2)}",
        "b": "B",
        "poison": f"poison: {CRASHED}",
        "c": "C",
        "d": "D",
    }
    assert worker_processes(os.getpid()) == set()


def test_a_job_that_keeps_making_progress_is_never_given_up_however_long_it_takes() -> None:
    slow = "x" * 40  # four seconds, twice the limit, saying it progresses all along
    results = dict(extract_all([slow, "quick"], plod, crashed, 2, stall=2))
    assert results == {slow: slow.upper(), "quick": "QUICK"}


def long_html(path: Path) -> None:
    """An HTML file of about 15 MB that takes seconds to read."""
    paragraphs = (f"<p>paragraph {n} with <b>some</b> words about freight and margins</p>\n" for n in range(200_000))
    path.write_text(f"<html><body>{''.join(paragraphs)}</body></html>")


def server(data: Path) -> Client:
    return Client(build_server(settings(timeout=120, data_dirs=(data,))), raise_exceptions=True)


async def started(client: Client) -> tuple[int, Path]:
    """The kernel's pid, and the marker of the file it reads in its own process (see `build`)."""
    printed = text_of(await run(client, "print(__import__('os').getpid(), docs._index_path, sep='\\n')"))
    kernel, index = printed.splitlines()[:2]
    return int(kernel), Path(f"{index}.reading")


class Workers:
    """Every document worker process started under this one while the block runs, and whether
    `marker` existed meanwhile."""

    def __init__(self, marker: Path | None = None) -> None:
        self.seen: set[int] = set()
        self.marked = False
        self._marker = marker
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch)

    def _watch(self) -> None:
        while not self._done.is_set():
            self.seen.update(worker_processes(os.getpid()))
            self.marked |= self._marker is not None and self._marker.exists()
            time.sleep(0.02)

    def __enter__(self) -> Workers:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()


@pytest.mark.anyio
async def test_a_pdf_is_read_by_a_worker_process_even_alone_never_in_the_kernel(
    anyio_backend: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    repeating_pdf(data / "long.pdf", 8000)
    async with server(data) as client:
        _, marker = await started(client)  # the kernel starts reading it now, in the background
        with Workers(marker) as workers:
            with anyio.fail_after(120):
                result = await run(client, "len(docs), sum(docs.list().pages)")
        assert text_of(result).endswith("(1, 8000)")
        assert workers.seen
        assert not workers.marked


@pytest.mark.anyio
async def test_a_file_whose_read_in_the_kernel_never_finished_is_read_again_in_a_worker_process(
    anyio_backend: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    long_html(data / "long.html")  # one file, not a PDF: read in the kernel itself
    async with server(data) as client:
        kernel, marker = await started(client)
        with anyio.fail_after(60):
            while "long.html" not in (marker.read_text() if marker.exists() else ""):
                await anyio.sleep(0.02)
        await kill(kernel)  # as a restart after a timeout does, in the middle of the file
        assert str((data / "long.html").resolve()) in marker.read_text()
        with Workers() as workers:
            with anyio.fail_after(120):
                result = await run(client, "len(docs), list(docs.list().status)")
        assert text_of(result).endswith("(1, ['ok'])")
        assert workers.seen, "the file was read in the kernel again, where a hang has no limit"
        assert not marker.exists()


def numbered_pdf(path: Path, pages: int) -> None:
    """A PDF dated on its first page, whose every page says its number, labelled 1, 2, … then from
    the page after `PART_PAGES` A-1, A-2, …"""
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path))
    pdf.addPageLabel(0, "ARABIC")
    pdf.addPageLabel(PART_PAGES + 1, "ARABIC", prefix="A-")
    for page in range(pages):
        if page == 0:
            pdf.drawString(50, 820, "Annual report, published 14 March 2024")
        pdf.drawString(50, 800, f"This is page number {page} of the manual.")
        pdf.showPage()
    pdf.save()


def test_a_long_pdf_read_in_parts_by_several_workers_gives_the_pages_labels_and_date_of_one_read(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    numbered_pdf(data / "manual.pdf", 2 * PART_PAGES + 123)
    repeating_pdf(data / "other.pdf", 10)
    sources = scan(data)
    built = {}
    for workers in (1, 3):
        index = Index(tmp_path / f"index_{workers}.sqlite3")
        records, _ = index_files(index, sources, lambda *_: None, workers=workers)
        record = records["manual.pdf"]
        built[workers] = (record.status, record.pages, record.dated, index.pages(record.id))
        index.close()
    assert built[3] == built[1]
    status, pages, dated, (texts, labels) = built[3]
    assert (status, pages) == ("ok", 2 * PART_PAGES + 123)
    assert [int(t.split("page number ")[1].split()[0]) for t in texts] == list(range(pages))
    assert labels[:2] == ["1", "2"]
    assert labels[PART_PAGES : PART_PAGES + 3] == [str(PART_PAGES + 1), "A-1", "A-2"]
    assert dated is not None and str(dated.period.start) == "2024-03-14" and dated.source == "first page"


def test_the_parts_of_a_long_pdf_are_read_separately_and_joined_in_order(tmp_path: Path) -> None:
    numbered_pdf(tmp_path / "manual.pdf", 2 * PART_PAGES + 5)
    path = tmp_path / "manual.pdf"
    job = Job("manual.pdf", path, str(path), path.stat().st_size, path.stat().st_mtime_ns)
    queue = deque([Parts.first(job)])
    parts = Parts(queue)
    read_parts, wholes = [], []
    for part, got in extract_all(queue, extract_file, crashed_part, 0):
        read_parts.append((part.start, part.stop))
        if (whole := parts.done(part, got)) is not None:
            wholes.append(whole)
    assert read_parts == [(0, PART_PAGES), (PART_PAGES, 2 * PART_PAGES), (2 * PART_PAGES, 3 * PART_PAGES)]
    [(whole_job, whole)] = wholes
    one = extract_file(job)
    assert whole_job == job
    assert (whole.pages, whole.labels, whole.dated, whole.reason) == (one.pages, one.labels, one.dated, one.reason)


def test_a_long_pdf_whose_part_hangs_is_skipped_whole_with_the_reason(tmp_path: Path) -> None:
    numbered_pdf(tmp_path / "manual.pdf", PART_PAGES + 5)
    path = tmp_path / "manual.pdf"
    job = Job("manual.pdf", path, str(path), path.stat().st_size, path.stat().st_mtime_ns)
    queue = deque([Parts.first(job)])
    parts = Parts(queue)
    wholes = []
    for part, got in extract_all(queue, extract_file, crashed_part, 0):
        if part.start:  # as a worker that hung on this part would give it
            got = crashed_part(part, hung(2))
        if (whole := parts.done(part, got)) is not None:
            wholes.append(whole)
    [(whole_job, whole)] = wholes
    assert whole_job == job
    assert (whole.pages, whole.reason) == (None, hung(2))


def test_a_file_whose_read_in_the_kernel_never_finished_is_skipped_with_the_reason_where_no_worker_can_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "notes.md").write_text("# Notes\n\nFreight costs rose.")
    (data / "stuck.html").write_text("<p>Margins fell.</p>")
    index = Index(tmp_path / "index.sqlite3")
    stuck = data / "stuck.html"
    job = Job("stuck.html", stuck, str(stuck.resolve()), stuck.stat().st_size, stuck.stat().st_mtime_ns)
    ReadMarker(index.path).reading(job).__enter__()  # what a kernel killed while reading it leaves
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python"))  # no worker process can start
    records, run = index_files(index, scan(data), lambda *_: None)
    assert (records["notes.md"].status, records["stuck.html"].status) == ("ok", "skipped")
    assert run.problems == [("stuck.html", INTERRUPTED)]
    assert ReadMarker(index.path).left() is None
    index.close()
