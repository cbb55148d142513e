"""When a document was published: from its file name, its first page, or its metadata.

Precedence, most trusted first:
1. The file name (`report_2024_q3.pdf`, `bulletin_1954_12.pdf`, `2016-09-minutes.docx`,
   `FY2023_annual.pdf`, `q3_2025.pdf`, `minutes_20160914.pdf`): someone chose it to say which issue
   this is. When the first page names a finer date inside the name's period (`report_2024.pdf`
   issued "March 15, 2024"), that date is taken, from the first page.
2. The first page: a date after a cue ("Issued March 1955", "For the quarter ended September 30,
   2024" — the quarter —, "as of", "published", "dated"), else the first full date or month in its
   first lines (a dateline), else a year, quarter or fiscal year in a short title line.
3. The metadata: a period in the PDF's or DOCX's title or subject; else its creation date, but only
   when nothing says it is a copy made at another time: a PDF made before 1993 does not exist, a
   creation date more than a year after every year the first page names is a scan or a conversion
   of an older document (a 1954 bulletin converted in 2019), one more than a year before them all
   is a tool's fixed stamp, and so is python-docx's template date (2013-12-23).
A two-digit year (`fy48`, "March '45") is never read as one still to come: 48 is 1948 while 2048 is
more than a year away.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal, cast

from memex_mcp.runtime.documents.periods import (
    MONTHS,
    Period,
    Precision,
    day,
    find,
    fiscal_year,
    full_year,
    half,
    month,
    quarter,
    year,
)

Source = Literal["name", "metadata", "first page"]
#: How much of the first page is read for its date.
HEAD = 1500
_PYTHON_DOCX_TEMPLATE = datetime(2013, 12, 23, 23, 15, tzinfo=UTC)
_FINER = {"day": 0, "month": 1, "quarter": 2, "half": 3, "fiscal year": 4, "year": 4, "span": 5}
_CUE = re.compile(
    r"\b(?:issued|published|released|dated|date|as\s+(?:of|at)|(?P<kind>quarter|year|months|period)\s+end(?:ed|ing))"
    r"\b[\s:,]*(?:on\s+|in\s+)?",
    re.IGNORECASE,
)


def published() -> tuple[int, int]:
    """The years a document can have been published in, for a two-digit year it gives: the century
    that keeps it out of the future (`fy48.pdf` is 1948, `fy24.pdf` 2024)."""
    return 1800, date.today().year + 1


@dataclass(frozen=True)
class DocDate:
    """A document's date: the `period` it is dated by, and where that was read (`source`)."""

    period: Period
    source: Source


def publication_date(path: Path, first_page: str) -> DocDate | None:
    """The date of the document at `path` whose first page's text is `first_page` (see the module
    doc for the precedence), or None when nothing dates it. Never raises for an unreadable file."""
    named = from_name(path.name)
    page = from_first_page(first_page)
    if named is not None:
        if page is not None and _within(page, named) and _FINER[page.precision] < _FINER[named.precision]:
            return DocDate(page, "first page")
        return DocDate(named, "name")
    if page is not None:
        return DocDate(page, "first page")
    meta = from_metadata(path, first_page)
    return DocDate(meta, "metadata") if meta is not None else None


def as_row(dated: DocDate | None) -> tuple[str, str, str, str]:
    """A date as the index keeps it: ISO start and end, precision, source; "" each when undated."""
    if dated is None:
        return ("", "", "", "")
    return (dated.period.start.isoformat(), dated.period.end.isoformat(), dated.period.precision, dated.source)


def from_row(start: str, end: str, precision: str, source: str) -> DocDate | None:
    """The date `as_row` gave as a row."""
    if not start:
        return None
    period = Period(date.fromisoformat(start), date.fromisoformat(end), cast(Precision, precision))
    return DocDate(period, cast(Source, source))


def _within(inner: Period, outer: Period) -> bool:
    return outer.start <= inner.start and inner.end <= outer.end


def _small(token: str, low: int, high: int) -> int | None:
    return int(token) if token.isdigit() and len(token) <= 2 and low <= int(token) <= high else None


def _at(tokens: list[str], i: int) -> str:
    return tokens[i] if 0 <= i < len(tokens) else ""


def from_name(name: str) -> Period | None:
    """The period a file name gives, the finest one if it gives several."""
    tokens = re.findall(r"[a-z]+|\d+", Path(name).stem.lower())
    found = [p for i in range(len(tokens)) if (p := _name_period(tokens, i)) is not None]
    return min(found, key=lambda p: _FINER[p.precision]) if found else None


def _name_period(t: list[str], i: int) -> Period | None:
    token = t[i]
    if token == "fy" and len(_at(t, i + 1)) in (2, 4) and _at(t, i + 1).isdigit():
        return fiscal_year(full_year(t[i + 1], published()))
    if not token.isdigit():
        return None
    if len(token) == 8 and 1800 <= int(token[:4]) <= 2099:
        return day(int(token[:4]), int(token[4:6]), int(token[6:]))
    if len(token) == 6 and 1800 <= int(token[:4]) <= 2099 and 1 <= int(token[4:]) <= 12:
        return month(int(token[:4]), int(token[4:]))
    if len(token) != 4 or not 1800 <= int(token) <= 2099:
        return None
    y = int(token)
    for q_at, n_at in ((i + 1, i + 2), (i - 2, i - 1), (i + 2, i + 1), (i - 1, i - 2)):
        n = _small(_at(t, n_at), 1, 4)
        if n is not None and _at(t, q_at) in ("q", "qtr"):
            return quarter(y, n)
        if n is not None and n <= 2 and _at(t, q_at) == "h":
            return half(y, n)
    if (m := _small(_at(t, i + 1), 1, 12)) is not None:
        d = _small(_at(t, i + 2), 1, 31)
        return (day(y, m, d) if d is not None else None) or month(y, m)
    for m_at in (i + 1, i - 1, i - 2):
        if (m := MONTHS.get(_at(t, m_at), 0)) and not (m_at == i - 2 and not _at(t, i - 1).isdigit()):
            d = _small(_at(t, i - 1), 1, 31) if m_at == i - 2 else None
            return (day(y, m, d) if d is not None else None) or month(y, m)
    return fiscal_year(y) if _at(t, i - 1) == "fy" else year(y)


def from_first_page(text: str) -> Period | None:
    """The date a first page states (see the module doc), or None."""
    head = text[:HEAD]
    found = find(head, published())
    for cue in _CUE.finditer(head):
        after = [p for at, p in found if cue.end() <= at <= cue.end() + 3]
        if after:
            return _ended(after[0], cue["kind"])
    for _, period in found:
        if period.precision in ("day", "month"):
            return period
    title_lines = [line for line in head.splitlines() if line.strip()][:5]
    for line in title_lines:
        named = [p for _, p in find(line, published()) if p.precision in ("year", "quarter", "half", "fiscal year")]
        if len(line.split()) <= 8 and named:  # a title, not a sentence ("Revenue grew since 1990 …")
            return named[0]
    return None


def _ended(period: Period, kind: str | None) -> Period:
    """ "quarter ended September 30, 2024" is the quarter; "year ended June 30, 1954" the year."""
    if kind is None or period.precision != "day":
        return period
    end = period.end
    if kind.lower() == "quarter":
        return quarter(end.year, (end.month + 2) // 3)
    if kind.lower() == "year":
        start = end.replace(year=end.year - 1) + timedelta(days=1) if (end.month, end.day) != (2, 29) else end
        return Period(start, end, "fiscal year")
    return period


def from_metadata(path: Path, first_page: str) -> Period | None:
    """A period in the file's title or subject, else its creation date where it can be trusted."""
    try:
        texts, created = _metadata(path)
    except Exception:  # a file the extraction read but the metadata reader cannot: no date
        return None
    for text in texts:
        if named := [p for _, p in find(text, published())]:
            return min(named, key=lambda p: _FINER[p.precision])
    if created is None or (path.suffix.lower() == ".pdf" and created.year < 1993):
        return None
    years = [p.end.year for _, p in find(first_page[:HEAD], published())]
    if years and not min(years) - 1 <= created.year <= max(years) + 1:
        return None
    return day(created.year, created.month, created.day)


def _metadata(path: Path) -> tuple[list[str], date | None]:
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        import pypdfium2  # type: ignore[import-untyped]

        pdf = pypdfium2.PdfDocument(path)
        try:
            meta: dict[str, str] = pdf.get_metadata_dict(skip_empty=True)
        finally:
            pdf.close()
        return [meta.get("Title", ""), meta.get("Subject", "")], _pdf_date(meta.get("CreationDate", ""))
    if suffix == ".docx":
        import docx

        props = docx.Document(str(path)).core_properties
        created: datetime | None = props.created
        if created == _PYTHON_DOCX_TEMPLATE:  # every file python-docx makes carries its template's date
            created = None
        return [props.title or "", props.subject or ""], created.date() if created else None
    return [], None


def _pdf_date(value: str) -> date | None:
    """A PDF date string (`D:20240315120000+00'00'`) as a date."""
    m = re.match(r"(?:D:)?(\d{4})(\d\d)?(\d\d)?", value)
    if not m:
        return None
    found = day(int(m[1]), int(m[2] or 1), int(m[3] or 1))
    return found.start if found else None
