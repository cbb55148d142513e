"""Building the document index: a large corpus is extracted by worker processes with the text one
process would give, a broken file costs only itself, progress shows while it runs, the workers die
with their kernel, and a PDF table's rows read one per line with their cells in order."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import anyio
import pytest
from conftest import PID, kill, run, settings, text_of, wait_exit
from documents_build_jobs import crashed, shout
from mcp import Client

from memex_mcp.runtime.documents.workers import CRASHED, extract_all
from memex_mcp.server import build_server

pytestmark = pytest.mark.anyio

REGIONS = ("Americas", "EMEA", "APAC", "Nordics", "Iberia", "Benelux")


def table_pdf(path: Path, pages: int, seed: int) -> None:
    """A report drawn as a spreadsheet prints it: each page a table (one text run per cell) and prose.
    Uncompressed, so a few dozen of them are enough bytes to be worth worker processes."""
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pageCompression=0, invariant=1)
    for page in range(1, pages + 1):
        pdf.drawString(50, 800, f"Report {seed}, page {page}: revenue by region")
        y = 780
        for n, region in enumerate(REGIONS):
            y -= 14
            pdf.drawString(50, y, region)
            pdf.drawRightString(220, y, f"{seed + page + n}.{n}")
            pdf.drawRightString(320, y, f"+{n}.{page % 10}%")
        for line in range(40):
            y -= 14
            pdf.drawString(50, y, f"Paragraph line {line} of report {seed} talks about freight, orders and margins.")
        pdf.showPage()
    pdf.save()


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 reports of 12 pages, written once for the module."""
    directory = tmp_path_factory.mktemp("reports")
    for n in range(30):
        table_pdf(directory / f"report_{n:02}.pdf", 12, seed=100 * n)
    return directory


def reports(generated: Path, directory: Path) -> Path:
    """A copy of the reports: files the cache has never seen."""
    shutil.copytree(generated, directory)
    return directory


def server(data_dir: Path) -> Client:
    return Client(build_server(settings(timeout=120, data_dirs=(data_dir,))), raise_exceptions=True)


async def output(client: Client, code: str) -> str:
    with anyio.fail_after(120):
        result = await run(client, code)
    assert not result.is_error, text_of(result)
    return text_of(result)


async def test_a_large_corpus_is_extracted_by_workers_as_one_process_would_and_a_broken_file_is_skipped(
    anyio_backend: str, generated: Path, tmp_path: Path
) -> None:
    data = reports(generated, tmp_path / "data")
    (data / "broken.pdf").write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 200)
    async with server(data) as client:
        printed = await output(client, "len(docs); print(repr(docs))")
        assert "by 2 worker processes" in printed or len(os.sched_getaffinity(0)) < 2
        assert "broken.pdf: not a readable PDF" in printed
        assert await output(client, "list(docs.list().query('status == \"skipped\"').id)") == "['broken.pdf']"
        same = await output(
            client,
            "[d for d in docs.list().query('status == \"ok\"').id "
            "if docs[d].pages != read_document(docs[d].path).pages]",
        )
        assert same == "[]"
        assert await output(client, "len(docs), sum(docs.list().pages)") == f"(31, {30 * 12})"


async def test_a_large_build_reports_its_progress_file_by_file(
    anyio_backend: str, generated: Path, tmp_path: Path
) -> None:
    data = reports(generated, tmp_path / "data")
    # The server forwards progress at most once a second: dense files make the build last seconds
    # wherever it runs, so that counts between the first and the last are reported.
    for n in range(4):
        repeating_pdf(data / f"dense_{n}.pdf", 120, lines=300, size=2)
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with server(data) as client:
        with anyio.fail_after(120):
            result = await client.call_tool(
                "execute_code", {"code": "docs.search('report 1700 freight')[0].doc"}, progress_callback=on_progress
            )
    assert text_of(result) == "'report_17.pdf'"
    counts = [
        int(m[1]) for _, _, message in seen if (m := re.match(r"indexing documents: (\d+) of 34 files", message or ""))
    ]
    assert [n for n in counts if 0 < n < 34], seen  # reported while files were being extracted
    assert counts == sorted(counts)
    values = [progress for progress, _, _ in seen]
    assert values == sorted(values)


def repeating_pdf(path: Path, pages: int, lines: int = 40, size: float | None = None, noise: bool = False) -> None:
    """A PDF of `pages` pages, each the same `lines` lines (drawn from one form, so it is quick to
    write however many pages), in font `size` (tiny ones crowd a page: 300 lines of size 2 take
    about 8 ms a page to read); `noise` adds an image of noise, making it big enough (2 MB) to be
    worth worker processes."""
    from PIL import Image
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path))
    if noise:
        pdf.drawImage(ImageReader(Image.frombytes("RGB", (700, 700), os.urandom(700 * 700 * 3))), 0, 0, 50, 50)
    pdf.beginForm("text")
    if size is not None:
        pdf.setFont("Helvetica", size)
    step = 14 if size is None else size * 1.3
    for line in range(lines):
        pdf.drawString(50, 800 - step * line, f"line {line} of a page that repeats, with words to index")
    pdf.endForm()
    for _ in range(pages):
        pdf.doForm("text")
        pdf.showPage()
    pdf.save()


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def worker_processes(pid: int) -> set[int]:
    """The document workers under `pid`."""
    found = set()
    for child in descendants(pid):
        try:
            if b"memex_mcp.runtime.documents.workers" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.add(child)
        except OSError:
            continue
    return found


async def test_a_kernel_killed_while_its_workers_extract_leaves_no_worker_behind_and_a_sound_index(
    anyio_backend: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name in ("a.pdf", "b.pdf"):
        repeating_pdf(data / name, 1000, noise=True)
    async with server(data) as client:
        kernel = int(await output(client, PID))
        workers: set[int] = set()
        with anyio.fail_after(60):
            while len(workers) < 2:
                workers = worker_processes(kernel)
                await anyio.sleep(0.05)
        await kill(kernel)
        assert [pid for pid in workers if not wait_exit(pid, 15)] == []
        # The next kernel finds the index sound, and reads what the killed one had not stored.
        assert (await output(client, "len(docs), sum(docs.list().pages)")).endswith("(2, 2000)")


def test_a_file_that_kills_its_worker_is_skipped_with_the_reason_and_the_others_are_extracted() -> None:
    jobs = [f"file{n}" for n in range(12)]
    jobs.insert(5, "poison")
    results = dict(extract_all(jobs, shout, crashed, 2))
    assert results == {job: f"poison: {CRASHED}" if job == "poison" else job.upper() for job in jobs}


async def test_a_table_in_a_pdf_reads_one_row_per_line_with_its_cells_in_order(
    anyio_backend: str, tmp_path: Path
) -> None:
    from reportlab.platypus import SimpleDocTemplate, Table

    data = tmp_path / "data"
    data.mkdir()
    rows = [
        ["Cost line", "Amount ($M)", "Change"],
        ["Cost of revenue", "53.8", "+5.5%"],
        ["Research and development", "19.9", "+8.2%"],
        ["General and administrative", "9.7", "+3.2%"],
    ]
    SimpleDocTemplate(str(data / "costs.pdf")).build([Table(rows)])
    async with server(data) as client:
        text = await output(client, "print(docs['costs.pdf'].text)")
    assert text.splitlines() == [" | ".join(row) for row in rows]
