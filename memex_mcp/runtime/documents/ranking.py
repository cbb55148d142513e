"""Re-ranking BM25's best pages by time and by document: what `docs.search` does when a question
names a period, and what `docs.search_documents` always does.

Periodic documents (annual reports, monthly bulletins, minutes) repeat their headings and table
names every issue, so BM25 scores the issues of every year alike; the question's period tells them
apart. A document is taken as published at the end of the period it is dated by (a report named
`q3_2025` comes out when its quarter is over; one dated only by a year or wider, at the time in it
that fits best), and it fits a period a question names
    fully                    when published in the `grace` days after the period ends: a quarter
                             of the period's length, at least `GRACE_MIN` (March's figures are in
                             the bulletin of April, 1954's in the annual report of March 1955),
    0.5 ** (days / half-life) published later, `days` after the grace; the half-life is half the
                             period's length, at least `HALF_LIFE_MIN` days,
    0.5 ** (days * BEFORE / length)
                             published `days` before the period ends (the bulletin of mid-March
                             cannot hold all of March; one of February holds none of it),
    `UNDATED`                for a document without a date,
and each candidate page's BM25 score is multiplied by `FLOOR + (1 - FLOOR) * prior`, the prior
being its document's best fit over the periods the question names: the fit peaks just after the
period, as the issue that reports a month is published after it. A page's document then adds
evidence: its other pages among the candidates, the best `EVIDENCE_PAGES` of them, each weighing `EVIDENCE` times
`0.5 ** i` of its own score (at most as much as the page's), so a document with several
matching pages outranks one lucky page of another, and a lucky page still beats weak ones.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from memex_mcp.runtime.documents.index import Candidate, Index, PageHit
from memex_mcp.runtime.documents.periods import Period

#: Best BM25 pages re-ranked: enough to hold every issue of a periodic report that matches.
POOL = 300
#: The share of its BM25 score that a page keeps however far from the asked period its document is.
FLOOR = 0.25
#: Days after the asked period in which a document fits fully (at least; a quarter of the period's
#: length for long periods: an annual report comes out months after its year).
GRACE_MIN = 31
#: Half-life, in days, of the fit of a document published later than that (at least; else half the
#: period's length: the report of the next quarter fits a quarter's question far less).
HALF_LIFE_MIN = 31
#: How much faster the fit falls for a document published before the period ends than after it.
BEFORE = 3.0
UNDATED = 0.5
_WIDE = frozenset({"year", "fiscal year", "span"})
EVIDENCE = 0.2
EVIDENCE_PAGES = 3


class Ranked(NamedTuple):
    """A candidate page with its score after re-ranking (a tuple: hundreds are made per search)."""

    page: Candidate
    score: float


def prior(dated: Period | None, asked: Sequence[Period]) -> float:
    """How well a document dated `dated` fits a question naming the periods `asked` (see the module doc)."""
    return _prior(dated, [_Asked.of(period) for period in asked])


class _Asked(NamedTuple):
    """An asked period in days (ordinals), with its grace and half-life."""

    end: int
    length: int
    grace: int
    half_life: float

    @classmethod
    def of(cls, period: Period) -> _Asked:
        length = (period.end - period.start).days + 1
        return cls(period.end.toordinal(), length, max(GRACE_MIN, length // 4), max(HALF_LIFE_MIN, length / 2))


def _prior(dated: Period | None, asked: Sequence[_Asked]) -> float:
    if dated is None or not asked:
        return UNDATED
    start, end = dated.start.toordinal(), dated.end.toordinal()
    best = 0.0
    for a in asked:
        # Published at the end of its period; one dated only by a year or wider, at its best time.
        published = min(max(a.end + a.grace, start), end) if dated.precision in _WIDE else end
        late = published - a.end
        if late <= 0:
            fit = 0.5 ** (-late * BEFORE / a.length)
        else:
            fit = 1.0 if late <= a.grace else 0.5 ** ((late - a.grace) / a.half_life)
        best = max(best, fit)
    return best


def rank_pages(
    candidates: Sequence[Candidate],
    dates: Mapping[int, Period | None],
    asked: Sequence[Period],
    evidence: bool = True,
) -> list[Ranked]:
    """The candidates (BM25's best pages) re-ranked: by the prior of their document's date (`dates`
    by file id) for the periods `asked` (none: BM25's order), and by their document's other pages
    when `evidence`. Best first; ties keep BM25's order."""
    days = [_Asked.of(period) for period in asked]
    fits: dict[int, float] = {}
    if days:
        for c in candidates:
            if c.file_id not in fits:
                fits[c.file_id] = FLOOR + (1 - FLOOR) * _prior(dates.get(c.file_id), days)
    timed = sorted((Ranked(c, c.score * fits.get(c.file_id, 1.0)) for c in candidates), key=_worst_first)
    if not evidence:
        return timed
    best: dict[int, list[float]] = defaultdict(list)  # each document's best scores, best first
    for r in timed:
        if len(scores := best[r.page.file_id]) <= EVIDENCE_PAGES:
            scores.append(r.score)
    ranked = []
    for r in timed:
        others = best[r.page.file_id]
        if r.score in others:
            others = list(others)
            others.remove(r.score)
        support = sum(0.5**i * min(r.score, s) for i, s in enumerate(others[:EVIDENCE_PAGES]))
        ranked.append(Ranked(r.page, r.score + EVIDENCE * support))
    return sorted(ranked, key=_worst_first)


def _worst_first(r: Ranked) -> float:
    return -r.score


def first(ranked: Sequence[Ranked], k: int, per_doc: int | None) -> list[Ranked]:
    """The first `k` of `ranked`, at most `per_doc` of a document (None: any number)."""
    taken: dict[int, int] = defaultdict(int)
    out: list[Ranked] = []
    for r in ranked:
        if per_doc is None or taken[r.page.file_id] < per_doc:
            taken[r.page.file_id] += 1
            out.append(r)
            if len(out) == k:
                break
    return out


def rank_documents(ranked: Sequence[Ranked], k: int, pages: int) -> list[tuple[int, float, list[Ranked]]]:
    """The `k` best documents of the re-ranked pages `ranked` (file id, score, its best `pages`):
    a document scores as its best page does, evidence included."""
    by_doc: dict[int, list[Ranked]] = defaultdict(list)
    for r in ranked:
        by_doc[r.page.file_id].append(r)
    best = sorted(by_doc.items(), key=lambda item: -item[1][0].score)[:k]
    return [(file_id, hits[0].score, hits[:pages]) for file_id, hits in best]


def search(
    index: Index,
    query: str,
    asked: Sequence[Period],
    k: int,
    members: Mapping[int, object],
    dates: Mapping[int, Period | None],
    scope: list[int] | None = None,
    per_doc: int | None = None,
) -> list[PageHit]:
    """`docs.search`'s re-ranked path: the `k` best pages for the FTS5 `query` among `members` (or
    the files `scope`), re-ranked for the periods `asked` (with document evidence when there are
    some; BM25's order when there are none), at most `per_doc` of a document."""
    pool = index.candidates(query, max(POOL, 4 * k * (1 if per_doc is None else 3)), members, scope)
    ranked = first(rank_pages(pool, dates, asked, evidence=bool(asked)), k, per_doc)
    return index.hits(query, [(r.page.rowid, r.score) for r in ranked])


def search_documents(
    index: Index,
    query: str,
    asked: Sequence[Period],
    k: int,
    members: Mapping[int, object],
    dates: Mapping[int, Period | None],
    scope: list[int] | None = None,
) -> list[tuple[int, float, list[PageHit]]]:
    """`docs.search_documents`: the `k` best documents (file id, score, its best pages as hits)
    among `members` (or the files `scope`)."""
    ranked = rank_pages(index.candidates(query, max(POOL, 30 * k), members, scope), dates, asked)
    return [
        (file_id, score, index.hits(query, [(r.page.rowid, r.score) for r in best]))
        for file_id, score, best in rank_documents(ranked, k, EVIDENCE_PAGES)
    ]
