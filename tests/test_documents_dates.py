"""A document's date (file name, first page, metadata) and the periods a question names: pure
functions on real files, no kernel."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from memex_mcp.runtime.documents.dates import from_first_page, from_name, publication_date
from memex_mcp.runtime.documents.filters import bound
from memex_mcp.runtime.documents.periods import periods, years_of
from memex_mcp.runtime.documents.snippet import snippet

NAMES = {
    "report_2024_q3.pdf": "2024-Q3",
    "bulletin_1954_12.pdf": "1954-12",
    "2016-09-minutes.docx": "2016-09",
    "FY2023_annual.pdf": "FY2023",
    "q3_2025.pdf": "2025-Q3",
    "kestrel_q3_2025_report.pdf": "2025-Q3",
    "3q_2019.pdf": "2019-Q3",
    "2015Q3_report.pdf": "2015-Q3",
    "results_2024_h1.pdf": "2024-H1",
    "minutes_20160914.pdf": "2016-09-14",
    "bulletin-1954-12-01.pdf": "1954-12-01",
    "bulletin_195412.pdf": "1954-12",
    "clb-1955-mar.pdf": "1955-03",
    "march_15_2016_minutes.pdf": "2016-03-15",
    "fy54_report.pdf": "FY1954",
    "fy24_report.pdf": "FY2024",
    "fy48_bulletin.pdf": "FY1948",  # a publication is never dated in the future: not FY2048
    "annual_report_2023.pdf": "2023",
}
UNDATED_NAMES = ["travel_memo.docx", "kiri2_press_release.html", "R-intro.pdf", "handbook.md", "model_3000.pdf"]
FIRST_PAGES = {
    "MONTHLY BULLETIN\nIssued March 1955\nTable 1. Prices": "1955-03",
    "Harbor Line\nFor the quarter ended September 30, 2024\nSummary": "2024-Q3",
    "Annual statement\nFor the year ended June 30, 1954\nRevenue": "FY1954",
    "WASHINGTON, D.C., March 15, 1955. The board met at ten.": "1955-03-15",
    "Memo\nFrom: Finance. To: all staff. Date: 15 September 2025.\nFrom 1 October 2025, trips": "2025-09-15",
    "Annual Report 2023\nThe year in review": "2023",
    "TREASURY BULLETIN\nIssued March '45\nTable 1": "1945-03",
}
QUESTIONS = {
    "What was revenue in fiscal year 1954?": ["FY1954"],
    "exports in FY54": ["FY1954"],
    "cash on hand as of March 31, 2025": ["2025-03-31"],
    "What happened in mid-March 2016?": ["2016-03"],
    "Q3 2024 revenue in EMEA": ["2024-Q3"],
    "revenue in the third quarter of 2024": ["2024-Q3"],
    "4Q 2019 margin": ["2019-Q4"],
    "first half of 2024": ["2024-H1"],
    "Dec. 1954 bulletin": ["1954-12"],
    "31 December 1955 balance": ["1955-12-31"],
    "on 2016-09-14": ["2016-09-14"],
    "between 1953 and 1956": ["1953-1956"],
    "the 1953-54 crop": ["1953-1954"],
    "prices in the 1950s": ["1950-1959"],
    "a loss of $1954 million in 2003, up 2.5% on 2002": ["2003", "2002"],
}
NO_PERIOD = [
    "What was Q3 revenue in the EMEA region?",
    "Kiri-2 weighs 2.1 kg",
    "port 8080 on 10.0.0.1, module 44.6",
    "",
]


#: (question, first and last year of the corpus's dates or None) → the periods it names.
TWO_DIGIT_YEARS = {
    ("exports in FY48", (1944, 1953)): ["FY1948"],
    ("exports in FY48", None): ["FY2048"],
    ("FY24 revenue", (2019, 2025)): ["FY2024"],
    ("FY24 revenue", (1920, 1930)): ["FY1924"],
    ("revenue for fiscal year 05", (1890, 1899)): ["FY1905"],  # nearest the corpus's years
    ("tonnage in Q3 '47", (1944, 1953)): ["1947-Q3"],
    ("H2 '99 results", (1995, 2010)): ["1999-H2"],
    ("prices in March '54", None): ["1954-03"],
    ("prices in Mar. '49", (1944, 1953)): ["1949-03"],
    ("What were prices in March 54?", None): ["1954-03"],
    ("balance on March 31, '54", None): ["1954-03-31"],
    ("the '48 harvest", (1940, 1949)): ["1948"],
    ("prices in the '40s", (1940, 1955)): ["1940-1949"],
    ("Q3 2024 and FY48", (1944, 2024)): ["2024-Q3", "FY1948"],
}
TWO_DIGITS_NO_YEAR = [
    "on March 24 we met",
    "in March 45 employees left",
    "they may 60 ships admit?",
    "rows where the code is '54'",
    "it is 54 degrees, page 54",
    "rock'n'roll 54",
]


@pytest.mark.parametrize(("asked", "labels"), TWO_DIGIT_YEARS.items())
def test_a_two_digit_year_takes_the_century_nearest_the_corpus_years(
    asked: tuple[str, tuple[int, int] | None], labels: list[str]
) -> None:
    question, years = asked
    assert [p.label for p in periods(question, years)] == labels


@pytest.mark.parametrize("question", TWO_DIGITS_NO_YEAR)
def test_two_digits_that_no_form_marks_as_a_year_name_no_period(question: str) -> None:
    assert periods(question, (1944, 1953)) == [] and periods(question) == []


def test_the_corpus_years_are_the_first_and_last_year_of_its_dates() -> None:
    dated = [from_name("bulletin_1954_12.pdf"), None, from_name("FY1947_report.pdf"), from_name("2016-09-minutes.docx")]
    assert years_of(dated) == (1946, 2016)  # FY1947 starts in July 1946
    assert years_of([None, None]) is None


@pytest.mark.parametrize(("name", "label"), NAMES.items())
def test_a_file_name_dates_its_document(name: str, label: str) -> None:
    found = from_name(name)
    assert found is not None and found.label == label


@pytest.mark.parametrize("name", UNDATED_NAMES)
def test_a_file_name_without_a_date_gives_none(name: str) -> None:
    assert from_name(name) is None


@pytest.mark.parametrize(("text", "label"), FIRST_PAGES.items())
def test_a_first_page_dates_its_document(text: str, label: str) -> None:
    found = from_first_page(text)
    assert found is not None and found.label == label


def test_a_sentence_with_a_year_is_no_date_of_the_page() -> None:
    assert from_first_page("Revenue has grown every year since 1990 thanks to our customers.") is None


@pytest.mark.parametrize(("question", "labels"), QUESTIONS.items())
def test_a_question_names_its_periods(question: str, labels: list[str]) -> None:
    assert [p.label for p in periods(question)] == labels


@pytest.mark.parametrize("question", NO_PERIOD)
def test_a_question_without_a_period_names_none(question: str) -> None:
    assert periods(question) == []


def test_the_file_name_comes_before_the_first_page_which_refines_it_within_its_period(tmp_path: Path) -> None:
    path = tmp_path / "report_2024.txt"
    path.write_text("x")
    refined = publication_date(path, "Issued March 15, 2024")
    assert refined is not None and (refined.period.label, refined.source) == ("2024-03-15", "first page")
    other = publication_date(path, "Issued March 15, 1955")
    assert other is not None and (other.period.label, other.source) == ("2024", "name")
    assert publication_date(tmp_path / "notes.txt", "nothing dated here") is None


def pdf(path: Path, first_page: str, title: str = "", invariant: bool = True) -> Path:
    from reportlab.pdfgen import canvas

    doc = canvas.Canvas(str(path), invariant=invariant)  # invariant: CreationDate 2000-01-01
    doc.setTitle(title)
    doc.drawString(60, 760, first_page)
    doc.showPage()
    doc.save()
    return path


def test_a_pdf_title_dates_it_and_a_creation_date_only_where_the_first_page_agrees(tmp_path: Path) -> None:
    titled = pdf(tmp_path / "bulletin.pdf", "Prices received by farmers", title="Crop Bulletin, March 1955")
    found = publication_date(titled, "Prices received by farmers")
    assert found is not None and (found.period.label, found.source) == ("1955-03", "metadata")
    born_digital = pdf(tmp_path / "flyer.pdf", "Open day at the mill")
    found = publication_date(born_digital, "Open day at the mill")
    assert found is not None and (found.period.label, found.source) == ("2000-01-01", "metadata")
    # Stamped in 2000, about 1954: a later conversion of an old bulletin, not its publication.
    page = "Wheat stocks on farms fell in 1953 and again in 1954, the department reports."
    assert publication_date(pdf(tmp_path / "scan.pdf", page), page) is None


def test_a_docx_title_or_creation_date_dates_it_but_python_docx_template_date_does_not(tmp_path: Path) -> None:
    import docx

    def write(name: str, title: str = "", created: datetime.datetime | None = None) -> Path:
        document = docx.Document()
        document.add_paragraph("The committee met and agreed the budget.")
        if title:
            document.core_properties.title = title
        if created:
            document.core_properties.created = created
        document.save(str(tmp_path / name))
        return tmp_path / name

    first = "The committee met and agreed the budget."
    created = publication_date(write("a.docx", created=datetime.datetime(2016, 9, 14, 10, 0)), first)
    assert created is not None and (created.period.label, created.source) == ("2016-09-14", "metadata")
    titled = publication_date(write("b.docx", "Minutes of March 2017", datetime.datetime(2016, 9, 14)), first)
    assert titled is not None and titled.period.label == "2017-03"
    assert publication_date(write("c.docx"), first) is None


@pytest.mark.parametrize(
    ("given", "label"),
    [
        ("2024", "2024"),
        ("2024-03", "2024-03"),
        ("2024-03-31", "2024-03-31"),
        (datetime.date(2024, 3, 31), "2024-03-31"),
    ],
)
def test_a_date_bound_names_a_year_a_month_or_a_day(given: object, label: str) -> None:
    found = bound("after", given)
    assert found is not None and found.label == label


@pytest.mark.parametrize("given", ["March 2024", "2024-13", "2024-02-30", "24", 3.5])
def test_a_date_bound_that_does_not_parse_says_which_forms_it_takes(given: object) -> None:
    with pytest.raises(ValueError, match=r'before takes a datetime.date or a string "2024", "2024-03" or "2024-03-31"'):
        bound("before", given)


def test_a_snippet_survives_a_phrase_matched_across_a_line_break() -> None:
    text = "x " * 40 + "Choosing between 32- and 64-\nbit builds\n"
    at = text.index("64-")
    start, shown = snippet(text, [(at, at + len("64-\nbit"))])
    assert shown.endswith("Choosing between 32- and 64-…") and text.find(shown.strip("…")) == start
