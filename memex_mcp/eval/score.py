"""Is an answer right: numbers within a relative tolerance, dates as dates, else normalised text.

Numbers are read as people write them in reports: `$1,234.5 million`, `12.3%`, `(45)` for -45,
a minus sign of any dash, `1.2bn`, `$5M`, `3 thousand`. When the expected answer is one number (with its unit or
scale word, if any), the answer is right if a number it states is within `tolerance` of it,
relative to the expected value, as OfficeQA scores. A scale word on one side only is taken either
way ("1234.5" matches "$1,234.5 million": questions often say "in millions"); a percentage on one
side only is also compared as a fraction ("12.3%" matches 0.123). When the expected answer is a
date, any date in the answer must be that day. Otherwise the texts are compared after
normalisation (case, punctuation, articles, whitespace): equal, or the expected phrase appears as
whole words in the answer.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from datetime import date

#: Relative tolerance of numeric answers: 1 % of the expected value.
DEFAULT_TOLERANCE = 0.01

_SCALES = {
    "thousand": 1e3,
    "k": 1e3,
    "million": 1e6,
    "millions": 1e6,
    "mn": 1e6,
    "mm": 1e6,
    "m": 1e6,
    "billion": 1e9,
    "billions": 1e9,
    "bn": 1e9,
    "b": 1e9,
    "trillion": 1e12,
    "tn": 1e12,
}
# One-letter scales count only glued to the number ("5M", "1.2b"), never "5 m" (metres); a scale word
# may follow a closing parenthesis: "(1,200.5) million".
_NUMBER = re.compile(
    r"(?P<open>\()?\s*(?P<sign>[-−–])?\s*(?:[$€£¥]|usd|eur|gbp)?\s*(?P<sign2>[-−–])?"
    r"(?P<digits>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"(?:(?P<glued>k|m|mn|mm|b|bn|tn)\b|\s*(?P<word>thousand|millions?|billions?|trillion|mn|bn|tn)\b)?"
    r"\s*(?P<percent>%|percent\b|per cent\b)?\s*(?P<close>\))?"
    r"(?:(?<=\))\s*(?P<after>thousand|millions?|billions?|trillion|mn|bn|tn)\b)?",
    re.IGNORECASE,
)
_MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_DATE_PATTERNS = [
    (re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b"), ("y", "m", "d")),
    (re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b"), ("m", "d", "y")),
    (re.compile(r"\b([a-z]{3,9})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b", re.I), ("M", "d", "y")),
    (re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+([a-z]{3,9})\.?,?\s+(\d{4})\b", re.I), ("d", "M", "y")),
]


@dataclass(frozen=True)
class Number:
    value: float
    scale: float = 1.0
    percent: bool = False

    def readings(self, scaled: bool, percent: bool) -> set[float]:
        """The values this number may stand for, given whether the other side has a scale word or
        a percent sign."""
        base = {self.value * self.scale} if self.scale != 1.0 and scaled else {self.value * self.scale, self.value}
        if self.percent and not percent:
            base |= {v / 100 for v in base}
        return base


@dataclass(frozen=True)
class Verdict:
    correct: bool
    how: str


def numbers(text: str) -> list[Number]:
    """Every number stated in `text`, as written."""
    found = []
    for m in _NUMBER.finditer(text):
        value = float(m["digits"].replace(",", ""))
        negative = bool(m["sign"] or m["sign2"]) or bool(m["open"] and m["close"])
        word = (m["glued"] or m["word"] or m["after"] or "").lower()
        found.append(Number(-value if negative else value, _SCALES.get(word, 1.0), bool(m["percent"])))
    return found


def single_number(text: str) -> Number | None:
    """The number `text` is, if it is one number and nothing else but units and currency."""
    stripped = text.strip().rstrip(".")
    m = _NUMBER.fullmatch(stripped)
    if m is None:
        m = re.fullmatch(r"(.*?\d.*?)\s*(?:[a-z$€£]{1,4}|dollars|euros|usd|eur|units|shares|people)?", stripped, re.I)
        if m is None or _NUMBER.fullmatch(m.group(1)) is None:
            return None
    found = numbers(stripped)
    return found[0] if len(found) == 1 else None


def dates(text: str) -> list[date]:
    found = []
    for pattern, order in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            parts = dict(zip(order, m.groups(), strict=True))
            try:
                month = int(parts["m"]) if "m" in parts else _month(parts["M"])
                found.append(date(int(parts["y"]), month, int(parts["d"])))
            except (ValueError, KeyError):
                continue
    return found


def _month(name: str) -> int:
    name = name.lower()
    for i, month in enumerate(_MONTHS, 1):
        if len(name) >= 3 and month.startswith(name):
            return i
    raise KeyError(name)


def normalise(text: str) -> str:
    text = text.lower().translate(str.maketrans("", "", string.punctuation))
    return " ".join(w for w in text.split() if w not in ("a", "an", "the"))


def score(answer: str | None, expected: str, tolerance: float = DEFAULT_TOLERANCE) -> Verdict:
    """Whether `answer` states `expected` (see the module's doc)."""
    if answer is None or not answer.strip():
        return Verdict(False, "no answer")
    if (target := single_number(expected)) is not None:
        return _score_number(answer, target, tolerance)
    if (wanted := dates(expected)) and len(wanted) == 1 and not numbers(re.sub(r"[\d/-]+|,", " ", expected)):
        given = dates(answer)
        ok = wanted[0] in given
        return Verdict(ok, f"date: {wanted[0].isoformat()} {'in' if ok else 'not in'} {[d.isoformat() for d in given]}")
    a, e = normalise(answer), normalise(expected)
    if a == e:
        return Verdict(True, "text: equal after normalisation")
    if e and re.search(rf"(?:^| ){re.escape(e)}(?: |$)", a):
        return Verdict(True, "text: the expected phrase is in the answer")
    return Verdict(False, f"text: {a[:60]!r} is not {e[:60]!r}")


def _score_number(answer: str, target: Number, tolerance: float) -> Verdict:
    given = numbers(answer)
    if not given:
        return Verdict(False, "number: the answer states no number")
    best: tuple[float, float, float] | None = None
    for n in given:
        for a in n.readings(target.scale != 1.0, target.percent):
            for e in target.readings(n.scale != 1.0, n.percent):
                error = abs(a - e) / abs(e) if e else abs(a)
                if best is None or error < best[0]:
                    best = (error, a, e)
    assert best is not None
    error, a, e = best
    ok = error <= tolerance
    return Verdict(ok, f"number: {_g(a)} vs {_g(e)} (relative error {error:.3g}, tolerance {tolerance:g})")


def _g(x: float) -> str:
    return f"{x:.10g}"
