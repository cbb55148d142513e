"""Indexing: a cold build of the document index over about 15,000 real PDF pages (the R manuals,
copied under distinct names, and generated reports with tables), extracted in one process with each
file in its own transaction against memex's default (worker processes, batched writes), in the same
run; the start of a small corpus, where its PDFs are read by one worker (a hang there has a time limit,
in the kernel none) and the rest in the kernel; and search latency over the big index.
"""

from __future__ import annotations

import os
import random
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, summary
from benchmarks.manuals import r_manuals
from memex_mcp.runtime.documents.build import Job, index_files, pool_size, scan
from memex_mcp.runtime.documents.extract import read
from memex_mcp.runtime.documents.index import Index, fts_query

#: Generated reports (the same bytes on every run), cached beside the R manuals.
REPORTS = ROOT / ".tools" / "indexing-reports"
REPORT_PAGES = 40
_REGIONS = ("Americas", "EMEA", "APAC", "Nordics", "Iberia", "Benelux", "Japan", "Oceania")
_LINES = ("Revenue", "Cost of revenue", "Research and development", "Sales and marketing", "Operating income")


def _report(path: Path, seed: int) -> None:
    """A report of `REPORT_PAGES` pages, each a table of regions by cost line and a few paragraphs."""
    from reportlab import rl_config  # type: ignore[import-untyped]
    from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
    from reportlab.pdfgen import canvas  # type: ignore[import-untyped]

    rl_config.invariant = 1
    rng = random.Random(seed)
    words = [
        "quarter",
        "region",
        "growth",
        "margin",
        "contract",
        "service",
        "order",
        "backlog",
        "freight",
        "supplier",
        "detector",
    ]
    pdf = canvas.Canvas(str(path), pagesize=A4)
    for page in range(REPORT_PAGES):
        pdf.setFont("Helvetica-Bold", 12)
        pdf.drawString(50, 800, f"Report {seed}, section {page + 1}: results by region")
        pdf.setFont("Helvetica", 9)
        y = 775
        for column, name in enumerate(("Region", *_LINES)):
            pdf.drawString(50 + 85 * column, y, name[:16])
        for region in _REGIONS:
            y -= 13
            pdf.drawString(50, y, region)
            for column in range(len(_LINES)):
                pdf.drawRightString(120 + 85 * (column + 1), y, f"{rng.uniform(1, 90):.1f}")
        y -= 30
        for _ in range(30):
            pdf.drawString(50, y, " ".join(rng.choice(words) for _ in range(16)))
            y -= 13
        pdf.showPage()
    pdf.save()


def corpus(directory: Path, pages: int) -> int:
    """Fill `directory` with about `pages` PDF pages: copies of the R manuals, then reports; the
    pages it holds."""
    manuals = sorted(r_manuals().glob("*.pdf"))
    manual_pages = sum(len(read(p).pages) for p in manuals)
    held = 0
    for copy in range(max(1, min(2, pages // manual_pages))):
        for pdf in manuals:
            shutil.copyfile(pdf, directory / f"{pdf.stem}_{copy}.pdf")
        held += manual_pages
    REPORTS.mkdir(parents=True, exist_ok=True)
    for n in range(max(0, (pages - held) // REPORT_PAGES)):
        cached = REPORTS / f"report_{n:03}.pdf"
        if not cached.exists():
            _report(cached, n)
        shutil.copyfile(cached, directory / cached.name)
        held += REPORT_PAGES
    return held


def _cpu() -> tuple[float, float]:
    """CPU seconds used so far by this process, and by its children that have exited (the workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def build(directory: Path, workdir: Path, name: str, **options: Any) -> tuple[dict[str, float], Index, int]:
    """A cold build of `directory`'s index: wall and CPU seconds (this process's, the workers'),
    the index, pages."""
    index = Index(workdir / f"{name}.sqlite3")
    cpu = _cpu()
    started = time.perf_counter()
    records, run = index_files(index, scan(directory), lambda *_: None, **options)
    seconds = time.perf_counter() - started
    own, workers = (after - before for after, before in zip(_cpu(), cpu, strict=True))
    index.set_members(r.id for r in records.values())
    return {"s": seconds, "cpu_own_s": own, "cpu_workers_s": workers}, index, run.pages


def queries(directory: Path, count: int = 200, seed: int = 3) -> list[str]:
    """Model-like questions made of words found on the corpus's pages."""
    rng = random.Random(seed)
    pages = [page for pdf in sorted(directory.glob("R-*_0.pdf")) for page in read(pdf).pages]
    vocabulary = sorted({w for page in pages for w in page.split() if w.isalpha() and len(w) > 4})
    forms = ("How do I {} the {} in {}?", "What does {} mean for {} {}", "{} {} {}")
    return [rng.choice(forms).format(*rng.sample(vocabulary, 3)) for _ in range(count)]


def search_latency(index: Index, asked: list[str]) -> dict[str, float]:
    members = range(1, 100_000)
    for q in asked[:10]:
        index.search(fts_query(q), 10, members)
    times = []
    for q in asked:
        started = time.perf_counter()
        index.search(fts_query(q), 10, members)
        times.append(time.perf_counter() - started)
    return summary(times)


def small(workdir: Path) -> dict[str, float]:
    """The bundled example documents (a few small files: the PDFs in one worker), best of 5 cold builds."""
    docs = ROOT / "examples" / "data" / "docs"
    before, after = [], []
    for n in range(5):  # interleaved, the best of each
        before.append(build(docs, workdir, f"small_before_{n}", workers=1, batch_pages=0)[0]["s"])
        after.append(build(docs, workdir, f"small_{n}")[0]["s"])
    jobs = [Job(doc_id, path, str(path), path.stat().st_size, 0) for doc_id, path in scan(docs)]
    return {"files": len(jobs), "workers": pool_size(jobs), "before_s": min(before), "s": min(after)}


def run(pages: int = 15_000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="memex-bench-indexing-") as tmp:
        workdir = Path(tmp)
        directory = workdir / "corpus"
        directory.mkdir()
        held = corpus(directory, pages)
        files = scan(directory)
        before, _, counted = build(directory, workdir, "before", workers=1, batch_pages=0)
        after, index, counted_after = build(directory, workdir, "after")
        assert counted == counted_after == held, (counted, counted_after, held)
        return {
            "files": len(files),
            "pages": held,
            "before": before,
            "after": after,
            "load": os.getloadavg(),
            "search": search_latency(index, queries(directory)),
            "small": small(workdir),
        }


def render(r: dict[str, Any], command: str, when: str) -> str:
    s, a, b = r["search"], r["after"], r["before"]
    return "\n".join(
        [
            "## Documents: index build",
            "",
            f"`{command}`, {when}: a cold build over {r['files']} PDFs, {r['pages']:,} pages (the R manuals "
            "twice under distinct names, and generated reports with a table on every page).",
            "",
            f"- One process, each file in its own transaction: {b['s']:.1f} s ({b['cpu_own_s']:.1f} CPU s); "
            f"worker processes and batched writes (memex's default): {a['s']:.1f} s "
            f"({b['s'] / a['s']:.2f}× as fast; {a['cpu_own_s']:.1f} CPU s in the indexing process, which stores, "
            f"and {a['cpu_workers_s']:.1f} in the workers, which extract). Load average at the end: "
            f"{', '.join(f'{x:.1f}' for x in r['load'])}.",
            f"- Search over that index, 200 model-like questions, top 10: p50 {s['p50']:.1f} ms, "
            f"p95 {s['p95']:.1f} ms.",
            f"- A small corpus (the {r['small']['files']} example documents; the PDFs read by one worker process): "
            f"{r['small']['s'] * 1000:.0f} ms cold (best of 5), against {r['small']['before_s'] * 1000:.0f} ms "
            "in one process with per-file transactions.",
        ]
    )


if __name__ == "__main__":
    print(render(run(), "python -m benchmarks.indexing", time.strftime("%Y-%m-%d %H:%M")))
