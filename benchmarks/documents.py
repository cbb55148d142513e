"""Documents: index build and search on ≥ 10,000 generated pages, memex's SQLite FTS5 index against
tantivy and a pure-Python BM25 in the same run; PDF extraction on real (reportlab) PDF pages, in one
process and in a pool of two.

The pages are generated text (a Zipf-distributed vocabulary, ~1,500 characters a page, 20 pages a
document): what is measured is indexing and search, not extraction. Queries are model-like questions
(stop words included) sent through memex's own query sanitiser, for every engine.
"""

from __future__ import annotations

import concurrent.futures
import math
import os
import random
import re
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, runtime_config, summary
from memex_mcp.runtime.documents.build import index_files
from memex_mcp.runtime.documents.extract import extract
from memex_mcp.runtime.documents.index import STOP_WORDS, Index, fts_query

PAGES_PER_DOC = 20
PAGE_WORDS = 230
VOCABULARY = 20_000
QUESTION_FORMS = (
    "What was the {} {} in {}?",
    "How did {} affect {} and {}",
    "{} {} {} report",
    "Which {} mentions {} near {}?",
)


def _words(rng: random.Random) -> list[str]:
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "xe", "zu", "pra", "dre", "qui", "ost", "enf"]
    seen: dict[str, None] = {}
    while len(seen) < VOCABULARY:
        seen["".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))] = None
    return list(seen)


def corpus(pages: int, seed: int = 7) -> tuple[list[list[str]], list[str]]:
    """Documents (each a list of page texts) and 200 queries."""
    rng = random.Random(seed)
    words = _words(rng)
    weights = [1 / (rank + 1) for rank in range(len(words))]
    cumulative = list(_accumulate(weights))
    stop = sorted(STOP_WORDS)

    def page() -> str:
        drawn = rng.choices(words, cum_weights=cumulative, k=PAGE_WORDS)
        for i in range(0, PAGE_WORDS, 4):
            drawn[i] = rng.choice(stop)
        return "\n".join(" ".join(drawn[i : i + 12]) for i in range(0, PAGE_WORDS, 12))

    texts = [page() for _ in range(pages)]
    docs = [texts[i : i + PAGES_PER_DOC] for i in range(0, pages, PAGES_PER_DOC)]
    # One common word (like "revenue" in a report) and two rarer ones (like "EMEA", "Q3").
    common, middle = words[5:100], words[100:5000]
    queries = [
        rng.choice(QUESTION_FORMS).format(*rng.sample([rng.choice(common), *rng.sample(middle, 2)], 3))
        for _ in range(200)
    ]
    return docs, queries


def _accumulate(values: list[float]) -> list[float]:
    total, out = 0.0, []
    for v in values:
        total += v
        out.append(total)
    return out


def _terms(query: str) -> list[str]:
    """The words memex's sanitiser keeps, for the engines that take plain terms."""
    return re.findall(r'"(\w+)"', fts_query(query))


def fts5(docs: list[list[str]], queries: list[str], workdir: Path) -> dict[str, Any]:
    index = Index(workdir / "fts5.sqlite3")
    started = time.perf_counter()
    for n, pages in enumerate(docs):
        index.store(f"/bench/doc_{n:05}.txt", n, n, pages, "")
    index.optimize()  # as memex does after a large build
    build = time.perf_counter() - started
    members = {index.lookup(f"/bench/doc_{n:05}.txt").id for n in range(len(docs))}  # type: ignore[union-attr]
    index.set_members(members)
    times = _timed(lambda q: index.search(fts_query(q), 10, members), queries)
    return {"build_s": build, **summary(times), "size_mb": (workdir / "fts5.sqlite3").stat().st_size / 2**20}


def tantivy_engine(docs: list[list[str]], queries: list[str], workdir: Path) -> dict[str, Any] | None:
    """None when tantivy is not installed (`pip install -e '.[bench]'`)."""
    try:
        import tantivy
    except ImportError:
        return None

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("text", stored=True, tokenizer_name="en_stem")
    builder.add_unsigned_field("doc", stored=True)
    builder.add_unsigned_field("page", stored=True)
    (workdir / "tantivy").mkdir()
    index = tantivy.Index(builder.build(), path=str(workdir / "tantivy"))
    started = time.perf_counter()
    writer = index.writer(heap_size=200_000_000, num_threads=1)
    for n, pages in enumerate(docs):
        for p, text in enumerate(pages, 1):
            writer.add_document(tantivy.Document(text=text, doc=n, page=p))
    writer.commit()
    writer.wait_merging_threads()
    build = time.perf_counter() - started
    index.reload()
    searcher = index.searcher()

    def search(query: str) -> list[Any]:
        terms = _terms(query)
        if not terms:
            return []
        hits = searcher.search(index.parse_query(" ".join(terms), ["text"]), 10).hits
        return [searcher.doc(address) for _, address in hits]  # the stored page, as memex returns it

    times = _timed(search, queries)
    size = sum(f.stat().st_size for f in (workdir / "tantivy").iterdir()) / 2**20
    return {"build_s": build, **summary(times), "size_mb": size}


def python_bm25(docs: list[list[str]], queries: list[str]) -> dict[str, Any]:
    """A plain inverted index in dicts (k1 1.2, b 0.75), the baseline any Python project could write."""
    started = time.perf_counter()
    postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
    lengths: list[int] = []
    for pages in docs:
        for text in pages:
            tokens = re.findall(r"\w+", text.lower())
            for term, count in Counter(tokens).items():
                postings[term].append((len(lengths), count))
            lengths.append(len(tokens))
    build = time.perf_counter() - started
    n, average = len(lengths), statistics.fmean(lengths)

    def search(query: str) -> list[tuple[float, int]]:
        scores: dict[int, float] = defaultdict(float)
        for term in _terms(query):
            found = postings.get(term, [])
            idf = math.log(1 + (n - len(found) + 0.5) / (len(found) + 0.5))
            for page, tf in found:
                scores[page] += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * lengths[page] / average))
        return sorted(((s, p) for p, s in scores.items()), reverse=True)[:10]

    return {"build_s": build, **summary(_timed(search, queries)), "size_mb": None}


def _timed(search: Any, queries: list[str]) -> list[float]:
    for q in queries[:10]:
        search(q)
    times = []
    for q in queries:
        started = time.perf_counter()
        search(q)
        times.append(time.perf_counter() - started)
    return times


def rescan(docs: list[list[str]], workdir: Path) -> dict[str, float]:
    """Start-up with everything cached: the files exist, and the index has them all (memex's own path)."""
    root = workdir / "files"
    root.mkdir()
    sources = []
    for n, pages in enumerate(docs):
        path = root / f"doc_{n:05}.txt"
        path.write_text("\n\n".join(pages))
        sources.append((path.name, path))
    index = Index(workdir / "rescan.sqlite3")
    first_started = time.perf_counter()
    index_files(index, sources, lambda *_: None)
    first = time.perf_counter() - first_started
    started = time.perf_counter()
    _, run = index_files(index, sources, lambda *_: None)
    assert run.unchanged == len(sources)
    return {"files": len(sources), "first_s": first, "cached_s": time.perf_counter() - started, "pages": run.pages}


def _write_pdf(path: Path, pages: list[str]) -> None:
    from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
    from reportlab.pdfgen import canvas  # type: ignore[import-untyped]

    pdf = canvas.Canvas(str(path), pagesize=A4)
    for text in pages:
        y = 800
        for line in text.splitlines():
            pdf.drawString(40, y, line[:110])
            y -= 14
        pdf.showPage()
    pdf.save()


def pdf_extraction(docs: list[list[str]], workdir: Path, files: int = 15) -> dict[str, float]:
    """pypdfium2 through memex's extractor, on `files` PDFs of 20 text-dense pages each."""
    paths = []
    for n, pages in enumerate(docs[:files]):
        paths.append(workdir / f"report_{n:02}.pdf")
        _write_pdf(paths[-1], pages)
    extract(paths[0])  # import pypdfium2 outside the timing
    serial, pooled = [], []
    with concurrent.futures.ProcessPoolExecutor(2) as pool:
        list(pool.map(extract, paths[:2]))  # start the workers outside the timing
        for _ in range(3):  # interleaved; the best of three of each, the machine being shared
            started = time.perf_counter()
            count = sum(len(extract(p)) for p in paths)
            serial.append(time.perf_counter() - started)
            started = time.perf_counter()
            pooled_pages = sum(len(p) for p in pool.map(extract, paths))
            pooled.append(time.perf_counter() - started)
    assert pooled_pages == count
    return {
        "pages": count,
        "serial_s": min(serial),
        "pool_s": min(pooled),
        "chars_per_page": statistics.fmean(len(t) for t in extract(paths[0])),
    }


async def kernel_start(data_dir: Path, runs: int = 5) -> dict[str, dict[str, float]]:
    """Kernel start → first `print(1)` result without a data dir, and with `data_dir` indexed in the
    background from a cold cache (then: start → the first search's answer). Interleaved, run by run."""
    from memex_mcp.server.kernel import Kernel
    from memex_mcp.server.output import CellOutput

    samples: dict[str, list[float]] = defaultdict(list)
    for _ in range(runs):
        for label, dirs in (("no data dir", []), ("cold data dir", [str(data_dir)])):
            config = runtime_config().model_copy(update={"data_dirs": dirs})
            started = time.perf_counter()
            kernel = await Kernel.launch(ROOT, config)
            await kernel.ready()
            try:
                await kernel.execute("print(1)", CellOutput())
                samples[label].append(time.perf_counter() - started)
                if dirs:
                    out = CellOutput()
                    await kernel.execute("docs.search('kalozu dremi')", out)
                    samples["cold data dir: first search answered"].append(time.perf_counter() - started)
            finally:
                await kernel.shutdown(now=True)
    return {label: {"median": 1000 * statistics.median(v), "min": 1000 * min(v)} for label, v in samples.items()}


def system_pdfs(limit: int = 40) -> dict[str, float] | None:
    """Extraction from real-world PDFs the machine has (manuals under /usr/share/doc), if any."""
    paths = sorted(Path("/usr/share/doc").rglob("*.pdf"))[:limit] if Path("/usr/share/doc").is_dir() else []
    readable = []
    for path in paths:
        try:
            extract(path)
            readable.append(path)
        except Exception:
            continue
    if not readable:
        return None
    started = time.perf_counter()
    texts = [page for path in readable for page in extract(path)]
    elapsed = time.perf_counter() - started
    return {
        "files": len(readable),
        "pages": len(texts),
        "s": elapsed,
        "chars_per_page": statistics.fmean(len(t) for t in texts) if texts else 0.0,
    }


async def run(pages: int = 10_000) -> dict[str, Any]:
    docs, queries = corpus(pages)
    with tempfile.TemporaryDirectory(prefix="memex-bench-docs-") as tmp:
        workdir = Path(tmp)
        results = {
            "pages": pages,
            "chars": sum(len(t) for d in docs for t in d),
            "queries": len(queries),
            "SQLite FTS5 (memex)": fts5(docs, queries, workdir),
            "tantivy": tantivy_engine(docs, queries, workdir),
            "pure-Python BM25": python_bm25(docs, queries),
            "rescan": rescan(docs[: max(1, len(docs) // 2)], workdir),
            "pdf": pdf_extraction(docs, workdir),
            "system_pdfs": system_pdfs(),
            "cpus": os.cpu_count(),
        }
        results["start"] = await kernel_start(workdir / "files")
    return results


def render(r: dict[str, Any], command: str, when: str) -> str:
    engines: tuple[str, ...] = ("SQLite FTS5 (memex)", "tantivy", "pure-Python BM25")
    memex, pdf, rescan_ = r[engines[0]], r["pdf"], r["rescan"]
    rows = []
    if r["tantivy"] is None:
        engines = (engines[0], engines[2])
        r = {**r, "tantivy": {"build_s": float("nan"), "p50": float("nan")}}
        rows.append("| tantivy | not installed: `pip install -e '.[bench]'` | | | | |")
    for name in engines:
        e = r[name]
        size = f"{e['size_mb']:.0f}" if e["size_mb"] is not None else "– (in memory)"
        rows.append(
            f"| {name} | {r['pages'] / e['build_s']:,.0f} | {e['build_s']:.1f} | {e['p50']:.2f} | "
            f"{e['p95']:.2f} | {size} |"
        )
    return "\n".join(
        [
            "## Documents: index build and search",
            "",
            f"`{command}`, {when}: {r['pages']:,} generated pages ({r['chars'] / 1e6:.1f} M characters, "
            f"{PAGES_PER_DOC} pages a document), {r['queries']} model-like questions through memex's query "
            "sanitiser, top 10 hits. Search times in milliseconds; memex's include the snippet and the "
            "page text of each hit, tantivy's the stored page. One core for each engine.",
            "",
            "| engine | build pages/s | build s | search p50 | search p95 | index MB |",
            "|---|---:|---:|---:|---:|---:|",
            *rows,
            "",
            f"- FTS5 builds at {r['pages'] / memex['build_s']:,.0f} pages/s (tantivy "
            f"{memex['build_s'] / r['tantivy']['build_s']:.1f}× as fast); its search p50 is "
            f"{memex['p50']:.2f} ms against tantivy's {r['tantivy']['p50']:.2f} ms "
            f"({memex['p50'] / r['tantivy']['p50']:.1f}×) and {r['pure-Python BM25']['p50']:.2f} ms for the "
            "pure-Python baseline. All are far below a model's turn, so memex keeps FTS5: no extra "
            "dependency, one file that several kernels share safely (WAL), per-file updates. tantivy is "
            "the backend to add if code ever searches in tight loops.",
            f"- Start-up with an unchanged cache ({rescan_['files']:,} files, {rescan_['pages']:,} pages): "
            f"{rescan_['cached_s'] * 1000:.0f} ms to check them all (stat + lookup), against "
            f"{rescan_['first_s']:.1f} s to index them the first time.",
            f"- PDF extraction (pypdfium2, {pdf['pages']} reportlab pages of {pdf['chars_per_page']:,.0f} "
            f"characters; best of 3): {pdf['pages'] / pdf['serial_s']:,.0f} pages/s in one process, "
            f"{pdf['pages'] / pdf['pool_s']:,.0f} pages/s in a pool of two on this {r['cpus']}-core machine "
            f"({pdf['serial_s'] / pdf['pool_s']:.2f}×). memex extracts in its one indexing thread all the "
            "same: extraction happens once per file (then the cache answers), the pool's gain applies "
            "only to that first indexing, and on a shared 2-core machine its second process competes with "
            "the kernel's own work."
            + (
                f" Real-world manuals found on this machine ({r['system_pdfs']['files']} PDFs under "
                f"/usr/share/doc, {r['system_pdfs']['pages']} pages of {r['system_pdfs']['chars_per_page']:,.0f} "
                f"characters): {r['system_pdfs']['pages'] / r['system_pdfs']['s']:,.0f} pages/s."
                if r.get("system_pdfs")
                else ""
            ),
            "- Kernel start → first result (5 starts each, interleaved; ms): "
            + "; ".join(f"{label} {v['median']:.0f} (min {v['min']:.0f})" for label, v in r["start"].items())
            + f". The cold data dir is the {rescan_['files']:,} files ({rescan_['pages']:,} pages) above, indexed "
            "in the kernel's background thread while it starts: start-up does not wait for it, the first "
            "search does.",
        ]
    )
