"""The arguments of `docs.search` (and `docs.search_documents`) that choose documents and hits: `k`,
`files`, `after`, `before`, `per_doc`, each checked with an error that says the forms it accepts."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from memex_mcp.runtime.documents.periods import Period, day, month, year

Bound = date | str | int | None
_FORMS = 'a datetime.date or a string "2024", "2024-03" or "2024-03-31"'
_BOUND = re.compile(r"(\d{4})(?:-(\d\d)(?:-(\d\d))?)?")


@dataclass(frozen=True)
class Scope:
    """Which documents a search may return: doc ids matching the glob `files`, dated within
    `after` … `before` (both inclusive of the periods they name)."""

    files: str | None = None
    after: Period | None = None
    before: Period | None = None

    @property
    def everything(self) -> bool:
        return self.files is None and self.after is None and self.before is None

    def admits(self, doc_id: str, dated: Period | None) -> bool:
        """Whether the document is in scope; an undated one is out of any date bound."""
        if self.files is not None and not fnmatch.fnmatchcase(doc_id, self.files):
            return False
        if self.after is None and self.before is None:
            return True
        if dated is None:
            return False
        return (self.after is None or dated.end >= self.after.start) and (
            self.before is None or dated.start <= self.before.end
        )


def count(name: str, value: object) -> int:
    """`value` as a whole number of at least 1, else a `ValueError` saying so."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name}={value!r}: {name} takes a whole number of at least 1")
    return value


def count_or_none(name: str, value: object) -> int | None:
    """As `count`, and None stays None."""
    if value is None:
        return None
    try:
        return count(name, value)
    except ValueError:
        raise ValueError(f"{name}={value!r}: {name} takes a whole number of at least 1, or None") from None


def scope(files: object, after: object, before: object) -> Scope:
    """The checked `files`, `after` and `before` of a search."""
    if files is not None and not isinstance(files, str):
        raise TypeError(
            f'files={files!r}: files takes a glob over doc ids as a string, e.g. "reports/*.pdf" or "*2024*"'
        )
    low, high = bound("after", after), bound("before", before)
    if low is not None and high is not None and low.start > high.end:
        raise ValueError(f"after={after!r} is later than before={before!r}: no document can be dated in between")
    return Scope(files, low, high)


def bound(name: str, value: object) -> Period | None:
    """`after`/`before` as the period it names: a date is its day, "2024" the year, "2024-03" the month."""
    if value is None:
        return None
    if isinstance(value, date):  # a datetime too: its day
        found = day(value.year, value.month, value.day)
    elif isinstance(value, int) and not isinstance(value, bool):
        found = year(value) if 1 <= value <= 9999 else None
    elif isinstance(value, str) and (m := _BOUND.fullmatch(value.strip())):
        y, mo, d = int(m[1]), int(m[2] or 0), int(m[3] or 0)
        found = day(y, mo, d) if d else month(y, mo) if 1 <= mo <= 12 else None if mo else year(y)
    else:
        found = None
    if found is None:
        raise ValueError(f"{name}={value!r} is not a date: {name} takes {_FORMS}")
    return found


def matching(files: str, doc_ids: Iterable[str]) -> None:
    """Raise a `ValueError` when the glob `files` matches none of `doc_ids`, with a few of them."""
    ids = sorted(doc_ids)
    if not any(fnmatch.fnmatchcase(doc_id, files) for doc_id in ids):
        some = ", ".join(repr(i) for i in ids[:3])
        raise ValueError(
            f"files={files!r} matches no doc id (doc ids look like {some}; * matches any characters, "
            "also /, ? one; docs.list() shows them all)"
        )
