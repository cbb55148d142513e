"""Searching a periodic report through a real kernel: eight quarterly issues with the same headings,
told apart by the period a question names; filters, pages per document, whole documents."""

from __future__ import annotations

import ast
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import cell, run, settings, text_of
from mcp import Client

from memex_mcp.server import build_server

pytestmark = pytest.mark.anyio

#: (file name, year, quarter): some dated by their name, some only by their first page.
ISSUES = [
    ("osprey_2021_q1.pdf", 2021, 1),
    ("osprey_report_2.pdf", 2021, 2),
    ("q3_2021.pdf", 2021, 3),
    ("osprey_report_4.pdf", 2021, 4),
    ("2022-03-osprey.pdf", 2022, 1),
    ("osprey_report_6.pdf", 2022, 2),
    ("osprey_2022_q3.pdf", 2022, 3),
    ("FY2022_q4_osprey.pdf", 2022, 4),
]
QUARTER_END = {1: "March 31", 2: "June 30", 3: "September 30", 4: "December 31"}


def write_pdf(path: Path, pages: list[list[str]]) -> None:
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), invariant=1)  # CreationDate 2000-01-01, as old tools stamp it
    for lines in pages:
        for n, line in enumerate(lines):
            pdf.drawString(60, 760 - 16 * n, line)
        pdf.showPage()
    pdf.save()


def write_corpus(root: Path) -> None:
    for n, (name, year, quarter) in enumerate(ISSUES):
        first = [
            "Osprey Mills: Quarterly Report",
            f"For the quarter ended {QUARTER_END[quarter]}, {year}",
            f"Summary. Net revenue was ${40 + 3 * n}.{n} million in the quarter.",
            f"Operating income was ${5 + n}.2 million; the mills ran at {80 + n} percent of capacity.",
        ]
        segments = ["Table 1. Revenue by segment", f"Paper {20 + n}.1", f"Pulp {10 + n}.4", f"Timber {5 + n}.9"]
        outlook = ["Outlook", "Management expects pulp prices to stay firm."]
        if quarter == 4:
            outlook += [f"Fiscal year {year} totals: net revenue ${170 + 12 * n} million."]
        write_pdf(root / name, [first, segments, outlook])
    (root / "handbook.md").write_text("# Handbook\n\nNet revenue and operating income are reported every quarter.")
    # One lucky page against a document with several pages on the same subject.
    write_pdf(root / "heron_flyer.pdf", [["Heron nesting walk: see heron nesting at dawn by the mill pond."]])
    survey = [f"Survey {n}: heron nesting at the north weir." for n in range(4)]
    write_pdf(root / "heron_survey.pdf", [[line] for line in survey])


def write_old_bulletins(root: Path) -> None:
    """Quarterly bulletins of 1946 to 1953, on both sides of the usual two-digit pivot (1950):
    those of even years dated by their name, the others by their first page."""
    for n, (year, quarter) in enumerate((y, q) for y in range(1946, 1954) for q in range(1, 5)):
        name = f"tidewater_{year}_q{quarter}.pdf" if year % 2 == 0 else f"tidewater_bulletin_{n}.pdf"
        first = [
            "Tidewater Harbor Board: Quarterly Bulletin",
            f"For the quarter ended {QUARTER_END[quarter]}, {year}",
            f"Cargo tonnage handled was {300 + 7 * n} thousand tons in the quarter.",
            f"Ships entered the harbor: {120 + n}.",
        ]
        if quarter == 4:
            first.append(f"Fiscal year totals: cargo tonnage {1200 + 25 * n} thousand tons.")
        write_pdf(root / name, [first])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("osprey")
    write_corpus(root)
    return root


@pytest.fixture(scope="module")
async def client(anyio_backend: str, corpus: Path) -> AsyncIterator[Client]:
    """One kernel for the module, its data dir the generated reports."""
    async with Client(build_server(settings(timeout=60, data_dirs=(corpus,))), raise_exceptions=True) as c:
        yield c


@pytest.fixture(scope="module")
async def old_bulletins(anyio_backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Client]:
    root = tmp_path_factory.mktemp("tidewater")
    write_old_bulletins(root)
    async with Client(build_server(settings(timeout=60, data_dirs=(root,))), raise_exceptions=True) as c:
        yield c


async def value(client: Client, code: str) -> object:
    return ast.literal_eval(await cell(client, code))


async def test_a_question_naming_a_period_ranks_that_periods_report_first(client: Client) -> None:
    asked = {
        "What was net revenue in Q3 2022?": "osprey_2022_q3.pdf",
        "Net revenue in the second quarter of 2021": "osprey_report_2.pdf",
        "operating income as of June 30, 2022": "osprey_report_6.pdf",
        "net revenue for the quarter ended March 31, 2022": "2022-03-osprey.pdf",
        "Fiscal year 2021 totals": "osprey_report_4.pdf",
        "What were the fiscal year totals in FY2022?": "FY2022_q4_osprey.pdf",
        "Paper segment revenue in 3Q 2021": "q3_2021.pdf",
    }
    for question, source in asked.items():
        assert await value(client, f"docs.search({question!r})[0].doc") == source, question
        assert await value(client, f"docs.search_documents({question!r})[0].doc") == source, question


async def test_a_two_digit_year_means_the_century_of_the_corpus_documents(
    client: Client, old_bulletins: Client
) -> None:
    # 1946-1953: "FY48" is 1948 here, not 2048 as the usual pivot reads it.
    asked = {
        "fiscal year totals in FY48": "tidewater_1948_q4.pdf",
        "cargo tonnage in Q3 '47": "tidewater_bulletin_6.pdf",
        "cargo tonnage in March '49": "tidewater_bulletin_12.pdf",
        "What was cargo tonnage in March 51?": "tidewater_bulletin_20.pdf",
        "ships entered in the second half of '46": "tidewater_1946_q4.pdf",
        "fiscal year totals for fiscal year 53": "tidewater_bulletin_31.pdf",
    }
    for question, source in asked.items():
        assert await value(old_bulletins, f"docs.search({question!r})[0].doc") == source, question
        assert await value(old_bulletins, f"docs.search_documents({question!r})[0].doc") == source, question
    # 2000-2022 (the heron files' metadata says 2000): "FY21" is 2021.
    for question, source in {
        "Fiscal year totals in FY21": "osprey_report_4.pdf",
        "net revenue in the third quarter of '22": "osprey_2022_q3.pdf",
    }.items():
        assert await value(client, f"docs.search_documents({question!r})[0].doc") == source, question


async def test_with_filters_a_two_digit_year_takes_the_century_of_the_documents_searched(
    anyio_backend: str, tmp_path: Path
) -> None:
    write_old_bulletins(tmp_path)
    for year in (2047, 2048):  # the same bulletin a century on: 1948 and 2048 both within 1946-2048
        lines = ["Tidewater Harbor Board: Quarterly Bulletin", f"For the quarter ended December 31, {year}"]
        write_pdf(tmp_path / f"tidewater_{year}_q4.pdf", [[*lines, "Fiscal year totals: cargo tonnage 9000 tons."]])
    question = "fiscal year totals in FY48"
    async with Client(build_server(settings(timeout=60, data_dirs=(tmp_path,))), raise_exceptions=True) as c:
        assert await value(c, f"docs.search_documents({question!r})[0].doc") == "tidewater_2048_q4.pdf"
        for code in (f"docs.search_documents({question!r}, before='1960')", f"docs.search({question!r}, before=1960)"):
            assert await value(c, f"{code}[0].doc") == "tidewater_1948_q4.pdf", code
        assert await value(c, f"docs.search({question!r}, after='2000')[0].doc") == "tidewater_2048_q4.pdf"


async def test_a_question_without_a_period_keeps_bm25s_order(client: Client) -> None:
    for question in ("net revenue operating income", "Table 1. Revenue by segment", "pulp prices outlook"):
        found = await value(client, f"[(h.doc, h.page) for h in docs.search({question!r})]")
        bm25 = await value(
            client,
            "from memex_mcp.runtime.documents.index import fts_query\n"
            f"[(docs._ids_by_file()[h.file_id], h.page) for h in docs._ready().search(fts_query({question!r}), 10, "
            "docs._ids_by_file())]",
        )
        assert found == bm25 and len(found) == 10


async def test_files_after_before_and_per_doc_choose_the_hits(client: Client) -> None:
    question = "net revenue operating income"
    assert set(await value(client, f"[h.doc for h in docs.search({question!r}, files='osprey_report_*')]")) == {
        "osprey_report_2.pdf",
        "osprey_report_4.pdf",
        "osprey_report_6.pdf",
    }
    after = await value(client, f"sorted({{h.doc for h in docs.search({question!r}, k=50, after='2022')}})")
    assert after == ["2022-03-osprey.pdf", "FY2022_q4_osprey.pdf", "osprey_2022_q3.pdf", "osprey_report_6.pdf"]
    between = await value(
        client,
        "import datetime\n"
        f"sorted({{h.doc for h in docs.search({question!r}, k=50, after=datetime.date(2021, 5, 1), "
        "before='2021-09')})",
    )
    assert between == ["osprey_report_2.pdf", "q3_2021.pdf"]  # both inclusive; the handbook has no date
    per_doc = await value(client, f"[h.doc for h in docs.search({question!r}, k=8, per_doc=1)]")
    assert len(per_doc) == 8 and len(set(per_doc)) == 8
    in_one = await value(client, f"[h.doc for h in docs.search({question!r}, k=3, per_doc=2, files='q3_*')]")
    assert in_one == ["q3_2021.pdf", "q3_2021.pdf"]


async def test_search_documents_ranks_whole_documents_with_their_best_pages_as_evidence(client: Client) -> None:
    # The flyer's one page is BM25's best; the survey has four pages on herons.
    assert await value(client, "docs.search('heron nesting')[0].doc") == "heron_flyer.pdf"
    ranked = await value(client, "[(d.doc, [h.page for h in d.pages]) for d in docs.search_documents('heron nesting')]")
    assert ranked == [("heron_survey.pdf", [1, 2, 3]), ("heron_flyer.pdf", [1])]
    shown = await cell(client, "print(docs.search_documents('net revenue in Q3 2022', k=2))")
    first, second = shown.splitlines()
    assert first.startswith("[0] osprey_2022_q3.pdf 2022-Q3 (") and ") p.1, p." in first
    assert second.startswith("[1] ")
    top = "d = docs.search_documents('net revenue in Q3 2022')[0]\n"
    assert await value(client, top + "(str(d.date), d.period, d.pages[0].doc, type(d.score).__name__)") == (
        "2022-07-01",
        "2022-Q3",
        "osprey_2022_q3.pdf",
        "float",
    )


async def test_files_after_and_before_choose_the_documents_search_documents_ranks(client: Client) -> None:
    question = "net revenue operating income"
    chosen = await value(client, f"sorted(d.doc for d in docs.search_documents({question!r}, files='osprey_report_*'))")
    assert chosen == ["osprey_report_2.pdf", "osprey_report_4.pdf", "osprey_report_6.pdf"]
    after = await value(client, f"sorted(d.doc for d in docs.search_documents({question!r}, k=50, after='2022'))")
    assert after == ["2022-03-osprey.pdf", "FY2022_q4_osprey.pdf", "osprey_2022_q3.pdf", "osprey_report_6.pdf"]
    between = await value(
        client,
        "import datetime\n"
        f"sorted(d.doc for d in docs.search_documents({question!r}, k=50, after=datetime.date(2021, 5, 1), "
        "before='2021-09'))",
    )
    assert between == ["osprey_report_2.pdf", "q3_2021.pdf"]  # both inclusive; the handbook has no date
    # A period in the question still ranks within the chosen documents.
    ranked = await value(client, "[d.doc for d in docs.search_documents('net revenue in Q3 2021', files='*q3*')]")
    assert ranked[0] == "q3_2021.pdf" and set(ranked) == {"q3_2021.pdf", "osprey_2022_q3.pdf"}
    assert await value(client, "len(docs.search_documents('heron nesting', before='1999'))") == 0


async def test_bad_search_arguments_raise_errors_naming_the_accepted_forms(client: Client) -> None:
    expected = {
        "docs.search('revenue', k=0)": "k takes a whole number of at least 1",
        "docs.search('revenue', after='March')": 'after takes a datetime.date or a string "2024", "2024-03" or',
        "docs.search('revenue', before='2024-13')": "before='2024-13' is not a date",
        "docs.search('revenue', files=['*.pdf'])": 'files takes a glob over doc ids as a string, e.g. "reports/*.pdf"',
        "docs.search('revenue', per_doc=0)": "per_doc takes a whole number of at least 1, or None",
        "docs.search('revenue', files='reports/*')": "files='reports/*' matches no doc id",
        "docs.search('revenue', after='2023', before='2022')": "after='2023' is later than before='2022'",
        "docs.search_documents('revenue', k=-1)": "k takes a whole number of at least 1",
    }
    for code, message in expected.items():
        result = await run(client, code)
        assert result.is_error and message in text_of(result), (code, text_of(result))


async def test_search_documents_rejects_a_bad_filter_with_the_error_search_gives(client: Client) -> None:
    for arguments in (
        "after='March'",
        "before='2024-13'",
        "files=['*.pdf']",
        "files='reports/*'",
        "after='2023', before='2022'",
    ):
        by_page = await run(client, f"docs.search('revenue', {arguments})")
        by_document = await run(client, f"docs.search_documents('revenue', {arguments})")
        assert by_page.is_error and by_document.is_error, arguments
        error = text_of(by_page).strip().splitlines()[-1]
        assert (
            error.split(":")[0] in ("ValueError", "TypeError")
            and error == text_of(by_document).strip().splitlines()[-1]
        )


async def test_docs_list_and_a_document_show_its_date_and_where_it_came_from(client: Client) -> None:
    rows = await value(
        client, "[(r.id, str(r.date), r.period, r.date_from) for r in docs.list().itertuples() if r.id.endswith('pdf')]"
    )
    assert rows == [
        ("2022-03-osprey.pdf", "2022-03-01", "2022-03", "name"),
        ("FY2022_q4_osprey.pdf", "2022-10-01", "2022-Q4", "name"),
        ("heron_flyer.pdf", "2000-01-01", "2000-01-01", "metadata"),  # no year on its first page to doubt it
        ("heron_survey.pdf", "2000-01-01", "2000-01-01", "metadata"),
        ("osprey_2021_q1.pdf", "2021-01-01", "2021-Q1", "name"),
        ("osprey_2022_q3.pdf", "2022-07-01", "2022-Q3", "name"),
        ("osprey_report_2.pdf", "2021-04-01", "2021-Q2", "first page"),
        ("osprey_report_4.pdf", "2021-10-01", "2021-Q4", "first page"),
        ("osprey_report_6.pdf", "2022-04-01", "2022-Q2", "first page"),
        ("q3_2021.pdf", "2021-07-01", "2021-Q3", "name"),
    ]
    assert await value(client, "d = docs['osprey_report_6.pdf']; (repr(d.date), d.period, d.date_from)") == (
        "datetime.date(2022, 4, 1)",
        "2022-Q2",
        "first page",
    )
    assert await value(client, "str(docs['handbook.md'].date)") == "None"
