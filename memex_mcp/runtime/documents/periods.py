"""The periods of time a text names: "in fiscal year 1954", "as of March 31, 2025", "mid-March 2016",
"Q3 2024", "the 1950s". Used on questions (which time they mean) and on a document's first page
(when it was issued).

Forms read, each a `Period` from its first to its last day:
    day       2025-03-31, 3/31/2025 (month first), March 31, 2025, 31 March 2025, March 31, '54
    month     March 2016, Mar. 2016, mid-March 2016 (early/mid/late: the whole month), 2016-03,
              March '54, and March 54 before the end of a clause ("in March 54?"; two digits
              that could be a day, as in "March 24", are one, and "may 60" is a verb)
    quarter   Q3 2024, 3Q 2024, 2024 Q3, Q3 FY2024, third quarter of 2024, Q3 '24, Q3 24
    half      H1 2024, first half of 2024, H1 '24
    fiscal    fiscal year 1954, fiscal 1954, FY1954, FY 1954, FY54: from July of the year before to
              the end of the year, as fiscal years end anywhere from June to December
    span      1953-1956, 1953-54, 1953 to 1956, between 1953 and 1956; the 1950s, the '50s
    year      1954: any number from 1800 to 2099 that is not part of an amount ($1954, 1954.5, 1954%);
              '54 (an apostrophe that starts a word; a quoted '54' is a number)
Two digits are a year only in these forms. A question's two-digit year takes the century that puts
it within (or nearest to) the years of the documents searched, so FY48 is 1948 among 1940s
bulletins; a document's own date the one that keeps it out of the future (`dates.published`);
without years, 1950-2049. Where forms overlap the longest wins (the year inside "March 31, 2025"
is not a period of its own).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Literal

Precision = Literal["day", "month", "quarter", "half", "fiscal year", "year", "span"]

MONTHS = {
    name: n
    for n, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        1,
    )
    for name in names
}
ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4}


@dataclass(frozen=True)
class Period:
    """From `start` to `end`, both included; `precision` says what the text named."""

    start: date
    end: date
    precision: Precision

    @property
    def label(self) -> str:
        """`2024-09-30`, `2024-09`, `2024-Q3`, `2024-H1`, `FY2024`, `2024`, `1953-1956`."""
        s = self.start
        if self.precision == "day":
            return s.isoformat()
        if self.precision == "month":
            return f"{s.year}-{s.month:02}"
        if self.precision == "quarter":
            return f"{s.year}-Q{(s.month + 2) // 3}"
        if self.precision == "half":
            return f"{s.year}-H{(s.month + 5) // 6}"
        if self.precision == "fiscal year":
            return f"FY{self.end.year}"
        if self.precision == "year":
            return str(s.year)
        return f"{s.year}-{self.end.year}"


def year(y: int) -> Period:
    return Period(date(y, 1, 1), date(y, 12, 31), "year")


def month(y: int, m: int) -> Period:
    return Period(date(y, m, 1), date(y, m, calendar.monthrange(y, m)[1]), "month")


def quarter(y: int, q: int) -> Period:
    end = month(y, 3 * q).end
    return Period(date(y, 3 * q - 2, 1), end, "quarter")


def half(y: int, h: int) -> Period:
    return Period(date(y, 6 * h - 5, 1), month(y, 6 * h).end, "half")


def fiscal_year(y: int) -> Period:
    return Period(date(y - 1, 7, 1), date(y, 12, 31), "fiscal year")


def day(y: int, m: int, d: int) -> Period | None:
    try:
        when = date(y, m, d)
    except ValueError:
        return None
    return Period(when, when, "day")


def span(first: int, last: int) -> Period | None:
    return Period(date(first, 1, 1), date(last, 12, 31), "span") if first < last else None


def full_year(text: str, years: tuple[int, int] | None = None) -> int:
    """A year as written: `1954`, `54`, `'54`. Two digits take the century (1800s, 1900s or 2000s)
    that puts the year within `years`, the first and last year a corpus's documents are dated in,
    or nearest to them; without `years`, or when two centuries are as near, 1950-2049."""
    digits = text.strip(_QUOTES)
    n = int(digits)
    if len(digits) != 2:
        return n
    pivot = 1900 + n if n >= 50 else 2000 + n
    if years is None:
        return pivot
    first, last = years
    away = {c + n: max(first - (c + n), 0, c + n - last) for c in (1800, 1900, 2000)}
    nearest = [y for y, d in away.items() if d == min(away.values())]
    return pivot if pivot in nearest else nearest[-1]


def years_of(dated: Iterable[Period | None]) -> tuple[int, int] | None:
    """The first and last year of the periods `dated` (None for undated ones), for `full_year`."""
    found = [p for p in dated if p is not None]
    if not found:
        return None
    return min(p.start.year for p in found), max(p.end.year for p in found)


_QUOTES = "'‘’"
_M = r"(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_Y = r"(?P<year>1[89]\d\d|20\d\d)"
#: Four digits, or two after an apostrophe ('54): two digits alone after a day are too often not a year.
_YA = r"(?P<year>1[89]\d\d|20\d\d|['‘’]\d\d(?!['‘’]))"
_Y2 = r"(?P<year>1[89]\d\d|20\d\d|['‘’]?\d\d)"
_D = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_EARLY = r"(?:(?:early|mid|late)[\s-]*)?"
_AMOUNT_BEFORE = r"(?<![$€£#\d.,/-])"
_AMOUNT_AFTER = r"(?![.,]?\d|%|-\d)"
#: An apostrophe that starts a word ('54, not rock'n'roll) and is no opening quote of a number ('54').
_APOSTROPHE = r"(?<![\w'‘’])['‘’]"
_NOT_QUOTED = r"(?!['‘’])"

#: Turns a year as written into a full year (see `full_year`).
YearOf = Callable[[str], int]
Build = Callable[[re.Match[str], YearOf], Period | None]


def _int(m: re.Match[str], name: str) -> int:
    return int(m[name])


def _month(m: re.Match[str]) -> int:
    return MONTHS[m["month"].lower()]


def _bare_month_year(m: re.Match[str], y: YearOf) -> Period | None:
    """ "March 54": two digits that cannot be a day ("March 24" is one), after a month that is no
    verb ("may 60 ships" is not May 1960)."""
    if int(m["year"]) <= 31 or m["month"] == "may":
        return None
    return month(y(m["year"]), _month(m))


#: (pattern, what it names), longest forms first.
_FORMS: list[tuple[str, Build]] = [
    (r"\b(?P<year>\d{4})-(?P<m>\d\d)-(?P<day>\d\d)\b", lambda m, y: day(_int(m, "year"), _int(m, "m"), _int(m, "day"))),
    (
        r"\b(?P<m>\d{1,2})/(?P<day>\d{1,2})/" + _Y + r"\b",
        lambda m, y: day(_int(m, "year"), _int(m, "m"), _int(m, "day")),
    ),
    (rf"\b{_M}\s+{_D},?\s+{_YA}\b", lambda m, y: day(y(m["year"]), _month(m), _int(m, "day"))),
    (rf"\b{_D}\s+(?:of\s+)?{_M},?\s+{_YA}\b", lambda m, y: day(y(m["year"]), _month(m), _int(m, "day"))),
    (rf"\b{_EARLY}{_M},?\s+(?:of\s+)?{_Y}\b", lambda m, y: month(_int(m, "year"), _month(m))),
    (
        rf"\b{_EARLY}{_M},?\s*(?P<year>['‘’]\d\d)\b{_NOT_QUOTED}{_AMOUNT_AFTER}",
        lambda m, y: month(y(m["year"]), _month(m)),
    ),
    # Only before the end of a sentence or clause: "in March 45 employees left" names no month.
    (rf"\b{_EARLY}{_M},?\s+(?P<year>\d\d)(?=[ \t]*(?:[,;:?!)\]\n]|\.(?!\d)|$))", _bare_month_year),
    (
        r"\b(?P<q>first|second|third|fourth|1st|2nd|3rd|4th)\s+quarter\s+(?:of\s+)?(?:(?:fiscal|FY)\s*(?:year\s+)?)?"
        + _Y2
        + r"\b",
        lambda m, y: quarter(y(m["year"]), ORDINALS[m["q"].lower()]),
    ),
    (
        r"\b(?:Q(?P<q>[1-4])|(?P<q2>[1-4])Q)[\s,/-]*(?:of\s+)?(?:(?:fiscal|FY)\s*(?:year\s+)?)?" + _Y2 + r"\b",
        lambda m, y: quarter(y(m["year"]), int(m["q"] or m["q2"])),
    ),
    (rf"\b{_Y}[\s/-]*Q(?P<q>[1-4])\b", lambda m, y: quarter(_int(m, "year"), _int(m, "q"))),
    (
        r"\b(?:H(?P<h>[12])|(?P<w>first|second)\s+half\s+(?:of\s+)?)\s*" + _Y2 + r"\b",
        lambda m, y: half(y(m["year"]), int(m["h"]) if m["h"] else 1 + (m["w"].lower() == "second")),
    ),
    (rf"\b{_Y}-(?P<m>0[1-9]|1[0-2])\b(?!-\d)", lambda m, y: month(_int(m, "year"), _int(m, "m"))),
    (
        r"\b(?:between\s+(?P<a>1[89]\d\d|20\d\d)\s+and|(?P<a2>1[89]\d\d|20\d\d)\s*(?:-|–|—|to|through))\s*"
        r"(?P<b>1[89]\d\d|20\d\d)\b",
        lambda m, y: span(int(m["a"] or m["a2"]), _int(m, "b")),
    ),
    (
        r"\b(?P<a>1[89]\d\d|20\d\d)[-–/](?P<b>\d\d)\b(?![-/]\d)",
        lambda m, y: span(_int(m, "a"), _int(m, "a") // 100 * 100 + _int(m, "b")),
    ),
    (r"\b(?:fiscal\s+(?:year\s+)?|FY\s*)" + _Y2 + r"\b", lambda m, y: fiscal_year(y(m["year"]))),
    (r"\b(?P<a>1[89]\d0|20\d0)['’]?s\b", lambda m, y: _decade(_int(m, "a"))),
    (_APOSTROPHE + r"(?P<a>\d0)s\b", lambda m, y: _decade(y(m["a"]))),
    (_APOSTROPHE + r"(?P<year>\d\d)\b" + _NOT_QUOTED + _AMOUNT_AFTER, lambda m, y: year(y(m["year"]))),
    (_AMOUNT_BEFORE + r"\b" + _Y + r"\b" + _AMOUNT_AFTER, lambda m, y: year(_int(m, "year"))),
]
_COMPILED = [(re.compile(pattern, re.IGNORECASE), build) for pattern, build in _FORMS]


def _decade(first: int) -> Period:
    return Period(date(first, 1, 1), date(first + 9, 12, 31), "span")


def find(text: str, years: tuple[int, int] | None = None) -> list[tuple[int, Period]]:
    """(where it starts, period) of every period `text` names, in text order; two-digit years as
    `full_year` reads them with `years`."""
    if not any(ch.isdigit() for ch in text):  # every form has a digit: most queries end here
        return []

    def year_of(written: str) -> int:
        return full_year(written, years)

    taken: list[tuple[int, int]] = []
    found: list[tuple[int, Period]] = []
    for regex, build in _COMPILED:
        for m in regex.finditer(text):
            if any(m.start() < end and start < m.end() for start, end in taken):
                continue
            period = build(m, year_of)
            if period is not None:
                taken.append(m.span())
                found.append((m.start(), period))
    return sorted(found, key=lambda f: f[0])


def periods(text: str, years: tuple[int, int] | None = None) -> list[Period]:
    """The periods `text` names, in text order, each once; `years`: the first and last year of the
    corpus asked, which tells the century of a two-digit year (`full_year`)."""
    return list(dict.fromkeys(period for _, period in find(text, years)))
