"""Periodic documents: does `docs.search` find the issue a question means, and is general search no
worse for it?

1. A generated archive of periodic PDFs (reportlab): 480 monthly bulletins (1950-1989) and 100
   quarterly reports (2000-2024), three pages each, the same headings and table names in every
   issue, only figures and dates differing. A third of each are dated by their file name one way
   (`bulletin_1955_03.pdf`, `harbor_q3_2015.pdf`), a third another way (`clb-1955-mar.pdf`,
   `2015Q3_report.pdf`), a third only by their first page (`clb_no_63.pdf`: "Issued March 15,
   1955", or for half of those bulletins only the (earlier) month their summary reports;
   "For the quarter ended September 30, 2015"); every PDF's CreationDate is today's, as a
   batch conversion would leave it. Each bulletin reports the month before its issue, from 1970
   the month before that (the March issue has February's prices, or January's, beside those of
   the month before and a year before, so every month and year is named in three issues), and
   January's has the year before's annual summary; each fourth
   quarter's report has the fiscal year's totals. 160 questions name periods in varied forms
   ("in March 1955", "in mid-March 1955", "as of March 31, 1955", "Mar. 1955", "1955-03",
   "Q3 2015", "the third quarter of 2015", "the quarter ended September 30, 2015", "3Q 2015",
   "fiscal year 2015", "FY15", "in 1955"), each with the issue that answers it.
2. The R manuals (Debian's r-doc-pdf): each manual's own section headings (its PDF outline, the
   numbering stripped, headings of three words or more found in one manual only, 25 a manual) and,
   for the reference manual, its topics (function names of six letters or more), each with that
   manual as its target. None names a period, so `search` ranks them as before by design;
   `search_documents` (document evidence) is compared with BM25's documents in the order of their
   best page.

Both rankings run on the same index in the same run: BM25 (the ranking before periods were read) and
the new one. Also: `docs.search` latency on 15,000 generated pages, with and without a period.
"""

from __future__ import annotations

import calendar
import random
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import summary
from memex_mcp.protocol import RuntimeConfig
from memex_mcp.runtime.documents import ranking
from memex_mcp.runtime.documents.corpus import Corpus
from memex_mcp.runtime.documents.dates import DocDate
from memex_mcp.runtime.documents.index import Index, fts_query
from memex_mcp.runtime.documents.periods import month, periods

#: From 1970 the bulletins report two months back (a slower schedule), not one.
LAG_AFTER_1970 = 2
ITEMS = ("wheat", "corn", "oats", "barley", "cattle", "hogs", "milk", "eggs")
MONTHS = [calendar.month_name[m] for m in range(1, 13)]
Question = tuple[str, str]  # (question, source doc id)


def _pdf(path: Path, pages: list[list[str]]) -> None:
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=letter)
    for lines in pages:
        y = 740
        for line in lines:
            pdf.drawString(60, y, line)
            y -= 16
        pdf.showPage()
    pdf.save()


def _back(y: int, m: int, months: int) -> tuple[int, int]:
    """The month `months` before (y, m) (after, when negative)."""
    n = y * 12 + m - 1 - months
    return n // 12, n % 12 + 1


def _bulletins(out: Path, rng: random.Random) -> tuple[list[Question], dict[tuple[int, int], str]]:
    ids: dict[tuple[int, int], str] = {}
    n = 0
    for y in range(1950, 1990):
        for m in range(1, 13):
            n += 1
            name = (f"bulletin_{y}_{m:02}.pdf", f"clb-{y}-{calendar.month_abbr[m].lower()}.pdf", f"clb_no_{n}.pdf")[
                n % 3
            ]
            ids[(y, m)] = name
            dy, dm = _back(y, m, LAG_AFTER_1970 if y >= 1970 else 1)
            py, pm = (dy, dm - 1) if dm > 1 else (dy - 1, 12)
            data, before = f"{MONTHS[dm - 1]} {dy}", f"{MONTHS[pm - 1]} {py}"
            index = rng.randint(180, 320)
            first = [
                "CROP AND LIVESTOCK BULLETIN",
                f"Number {n}. Issued {MONTHS[m - 1]} 15, {y}" if n % 6 != 5 else f"Number {n}",
                "Summary",
                f"The index of prices received by farmers stood at {index} in {data},",
                f"compared with {index + rng.randint(-9, 9)} in {before}. Prices of grains and livestock",
                "are reported by state statisticians from sales at local markets.",
            ]
            earlier = f"{MONTHS[dm - 1]} {dy - 1}"
            table = ["Table 1. Prices received by farmers", f"Dollars per unit: {data}, {before}, {earlier}"]
            table += [f"{item.capitalize()}: {rng.uniform(0.5, 30):.2f} {rng.uniform(0.5, 30):.2f}" for item in ITEMS]
            table += ["Table 2. Production and stocks", f"Stocks on farms at the end of {data}"]
            table += [f"{item.capitalize()} stocks: {rng.randint(100, 900)} thousand units" for item in ITEMS[:4]]
            last = ["Table 3. Farm employment", f"Hired workers {rng.randint(1500, 3000)} thousand", "Notes"]
            last += ["Figures are preliminary and subject to revision in the next issue."]
            if m == 1:
                last += [f"Annual summary for {y - 1}", f"Total wheat production in {y - 1} was"]
                last += [f"{rng.randint(700, 1400)} million bushels; total corn production {rng.randint(2000, 4000)}."]
            _pdf(out / name, [first, table, last])
    questions: list[Question] = []
    forms: list[Callable[[str, int, int], str]] = [
        lambda i, y, m: f"What was the price received for {i} in {MONTHS[m - 1]} {y}?",
        lambda i, y, m: f"How much did {i} fetch in mid-{MONTHS[m - 1]} {y}?",
        lambda i, y, m: f"{i} price as of {MONTHS[m - 1]} {calendar.monthrange(y, m)[1]}, {y}",
        lambda i, y, m: f"{i} prices {calendar.month_abbr[m]}. {y}",
        lambda i, y, m: f"What were farm stocks of {i} at the end of {y}-{m:02}?",
    ]
    for q in range(80):
        y, m = rng.randint(1950, 1988), rng.randint(1, 12)
        source = ids[_back(y, m, -(LAG_AFTER_1970 if _back(y, m, -2)[0] >= 1970 else 1))]
        questions.append((forms[q % len(forms)](rng.choice(ITEMS), y, m), source))
    for _ in range(20):
        y = rng.randint(1950, 1988)
        form = rng.choice(("What was total wheat production in {}?", "Total corn production for the year {}"))
        questions.append((form.format(y), ids[(y + 1, 1)]))
    return questions, ids


def _quarterlies(out: Path, rng: random.Random) -> list[Question]:
    ids: dict[tuple[int, int], str] = {}
    n = 0
    for y in range(2000, 2025):
        for q in range(1, 5):
            n += 1
            name = (f"harbor_q{q}_{y}.pdf", f"{y}Q{q}_report.pdf", f"harbor_report_{n}.pdf")[n % 3]
            ids[(y, q)] = name
            end = month(y, 3 * q).end
            first = [
                "Harbor Line Shipping: Quarterly Report",
                f"For the quarter ended {MONTHS[end.month - 1]} {end.day}, {y}",
                "Summary",
                f"Net revenue was ${rng.uniform(80, 300):.1f} million and operating income",
                f"${rng.uniform(5, 40):.1f} million. Container volume reached {rng.randint(200, 900)} thousand.",
            ]
            segments = ["Segment results", "Container shipping, bulk cargo, port services and logistics"]
            segments += [f"{s}: revenue {rng.uniform(10, 90):.1f}" for s in ("Container", "Bulk", "Port", "Logistics")]
            outlook = ["Outlook", "Management expects freight rates to remain volatile."]
            if q == 4:
                outlook += [f"Fiscal year {y} totals: revenue ${rng.uniform(400, 1100):.0f} million,"]
                outlook += [f"net income ${rng.uniform(20, 120):.0f} million for the full year."]
            _pdf(out / name, [first, segments, outlook])
    forms: list[Callable[[int, int], str]] = [
        lambda y, q: f"What was net revenue in Q{q} {y}?",
        lambda y, q: f"Operating income in the {('first', 'second', 'third', 'fourth')[q - 1]} quarter of {y}",
        lambda y, q: f"Container volume for the quarter ended {MONTHS[3 * q - 1]} {month(y, 3 * q).end.day}, {y}",
        lambda y, q: f"bulk cargo segment revenue {q}Q {y}",
    ]
    questions = [
        (forms[i % len(forms)](y, q), ids[(y, q)])
        for i in range(40)
        for y, q in [(rng.randint(2000, 2024), rng.randint(1, 4))]
    ]
    for i in range(20):
        y = rng.randint(2000, 2024)
        text = f"Fiscal year {y} total revenue and net income" if i % 2 else f"full year net income FY{y % 100:02}"
        questions.append((text, ids[(y, 4)]))
    return questions


def _corpus(root: Path) -> tuple[Corpus, list[Question]]:
    rng = random.Random(1954)
    docs = root / "docs"
    docs.mkdir(parents=True)
    questions, _ = _bulletins(docs, rng)
    questions += _quarterlies(docs, rng)
    return _open(root, docs), questions


def _open(root: Path, docs: Path) -> Corpus:
    corpus = Corpus(RuntimeConfig(session_dir=str(root), cache_dir=str(root / "cache"), data_dirs=[str(docs)]))
    corpus.start()
    len(corpus)  # waits for the index
    return corpus


def _bm25_docs(corpus: Corpus, query: str, k: int = 10) -> list[str]:
    """The documents of BM25's `k` best pages (the ranking before periods were read), best first."""
    ids = corpus._ids_by_file()
    return [ids[h.file_id] for h in corpus._ready().search(fts_query(query), k, ids)]


def _score(ranked: list[list[str]], targets: list[str]) -> dict[str, float]:
    n = len(targets)
    return {
        "top1": sum(bool(r) and r[0] == t for r, t in zip(ranked, targets, strict=True)) / n,
        "top10": sum(t in r[:10] for r, t in zip(ranked, targets, strict=True)) / n,
    }


def _compare(corpus: Corpus, questions: list[Question]) -> dict[str, dict[str, float]]:
    targets = [t for _, t in questions]
    bm25 = [_bm25_docs(corpus, q) for q, _ in questions]
    new = [[h.doc for h in corpus.search(q)] for q, _ in questions]
    ids, index = corpus._ids_by_file(), corpus._ready()
    pools = [index.candidates(fts_query(q), ranking.POOL, ids) for q, _ in questions]
    docs_bm25 = [list(dict.fromkeys(ids[c.file_id] for c in pool))[:10] for pool in pools]
    docs_new = [[d.doc for d in corpus.search_documents(q)] for q, _ in questions]
    return {
        "search: BM25 (before)": _score(bm25, targets),
        "search: new": _score(new, targets),
        "documents: BM25 best page (before)": _score(docs_bm25, targets),
        "documents: search_documents": _score(docs_new, targets),
    }


def _manual_questions(manuals: Path) -> list[Question]:
    import pypdfium2  # type: ignore[import-untyped]

    rng = random.Random(7)
    headings: dict[str, set[str]] = {}
    for pdf_path in sorted(manuals.glob("*.pdf")):
        pdf = pypdfium2.PdfDocument(pdf_path)
        for mark in pdf.get_toc():
            title = re.sub(r"^(?:[A-Z]|\d+(?:\.\d+)*)\s+(?=[A-Z])", "", mark.get_title()).strip()
            if len(title.split()) >= 3 or (pdf_path.name == "refman.pdf" and re.fullmatch(r"[a-z][\w.]{5,}", title)):
                headings.setdefault(title, set()).add(pdf_path.name)
        pdf.close()
    by_manual: dict[str, list[str]] = {}
    for title, where in sorted(headings.items()):
        if len(where) == 1:
            by_manual.setdefault(next(iter(where)), []).append(title)
    return [(t, m) for m, titles in sorted(by_manual.items()) for t in rng.sample(titles, min(25, len(titles)))]


def _latency(workdir: Path, pages: int = 15_000) -> dict[str, dict[str, float]]:
    from benchmarks.documents import corpus as generated

    docs, queries = generated(pages)
    index = Index(workdir / "latency.sqlite3")
    rng = random.Random(3)
    for n, texts in enumerate(docs):
        when = month(rng.randint(1950, 1989), rng.randint(1, 12))
        index.store(f"/bench/doc_{n:05}.txt", n, n, texts, "", dated=DocDate(when, "name"))
    index.optimize()
    records = [index.lookup(f"/bench/doc_{n:05}.txt") for n in range(len(docs))]
    ids = {r.id: f"doc_{n:05}.txt" for n, r in enumerate(records) if r is not None}
    dates = {r.id: (d.period if (d := r.dated) else None) for r in records if r is not None}
    index.set_members(ids)
    dated_queries = [f"{q} in {MONTHS[i % 12]} {1950 + i % 40}" for i, q in enumerate(queries)]
    out = {}
    for name, qs, fn in (
        ("BM25 (a query without a period)", queries, lambda q: index.search(fts_query(q), 10, ids)),
        (
            "re-ranked (a query naming a month)",
            dated_queries,
            lambda q: ranking.search(index, fts_query(q), periods(q), 10, ids, dates),
        ),
        (
            "search_documents (a query naming a month)",
            dated_queries,
            lambda q: ranking.search_documents(index, fts_query(q), periods(q), 10, ids, dates),
        ),
    ):
        times = []
        for q in qs:
            started = time.perf_counter()
            fn(q)
            times.append(time.perf_counter() - started)
        out[name] = summary(times)
    index.close()
    return out


def run() -> dict[str, Any]:
    from benchmarks.manuals import r_manuals

    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="memex-periodic-") as tmp:
        started = time.perf_counter()
        corpus, questions = _corpus(Path(tmp) / "periodic")
        result["periodic_build_s"] = time.perf_counter() - started
        result["periodic_docs"], result["periodic_questions"] = len(corpus), len(questions)
        result["periodic"] = _compare(corpus, questions)
        manuals = r_manuals()
        questions = _manual_questions(manuals)
        result["manual_questions"] = len(questions)
        result["manuals"] = _compare(_open(Path(tmp) / "manuals", manuals), questions)
        result["latency"] = _latency(Path(tmp))
    return result


def render(result: dict[str, Any], command: str, date: str) -> str:
    lines = [
        "## Periodic documents: the issue a question means",
        "",
        f"`{command}` — {date}. {result['periodic_docs']} generated periodic PDFs (built and indexed in "
        f"{result['periodic_build_s']:.0f} s), {result['periodic_questions']} questions naming periods; "
        f"the R manuals with {result['manual_questions']} heading questions (no periods).",
        "",
        "| corpus | ranking | source in top 1 | source in top 10 |",
        "|---|---|---:|---:|",
    ]
    for corpus in ("periodic", "manuals"):
        for name, score in result[corpus].items():
            lines.append(f"| {corpus} | {name} | {score['top1']:.0%} | {score['top10']:.0%} |")
    lines += ["", "| `docs.search` on 15,000 pages | p50 ms | p95 ms |", "|---|---:|---:|"]
    for name, times in result["latency"].items():
        lines.append(f"| {name} | {times['p50']:.1f} | {times['p95']:.1f} |")
    return "\n".join(lines)
