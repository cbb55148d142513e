"""Re-ranking BM25's best pages by time and by document: what `docs.search` does when a question
names a period, and what `docs.search_documents` always does.

Periodic documents (annual reports, monthly bulletins, minutes) repeat their headings and table
names every issue, so BM25 scores the issues of every year alike; the question's period tells them
apart. Each candidate page's BM25 score is multiplied by `FLOOR + (1 - FLOOR) * prior`, where the
prior of its document is:
    1                        dated in a period the question names (the periods overlap),
    AFTER * 0.5 ** (gap / half-life)
                             dated after it, `gap` days after its end; the half-life is the
                             named period's length, at least `HALF_LIFE_MIN` days (a question about
                             1954 still likes the bulletin of March 1955, one about March 1955 the
                             bulletin of April far more than that of September),
    the same, `BEFORE` times faster, from the document's start, for one dated before it,
    `UNDATED`                for a document without a date;
the best over the periods the question names. A page's document then adds evidence: its other
pages among the candidates, the best `EVIDENCE_PAGES` of them, each weighing `EVIDENCE` times
`0.5 ** i` of its own score (at most as much as the page's), so a document with several
matching pages outranks one lucky page of another, and a lucky page still beats weak ones.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from memex_mcp.runtime.documents.index import Candidate
from memex_mcp.runtime.documents.periods import Period

#: Best BM25 pages re-ranked: enough to hold every issue of a periodic report that matches.
POOL = 300
#: The share of its BM25 score that a page keeps however far from the asked period its document is.
FLOOR = 0.25
HALF_LIFE_MIN = 31
#: The most a document dated outside the asked period fits: less than one dated in it.
AFTER = 0.8
#: How much faster the prior falls for documents dated before the period than after it.
BEFORE = 4.0
UNDATED = 0.3
EVIDENCE = 0.2
EVIDENCE_PAGES = 3


@dataclass(frozen=True)
class Ranked:
    """A candidate page with its score after re-ranking."""

    page: Candidate
    score: float


def prior(dated: Period | None, asked: Sequence[Period]) -> float:
    """How well a document dated `dated` fits a question naming the periods `asked` (see the module doc)."""
    if dated is None:
        return UNDATED
    best = 0.0
    for period in asked:
        half_life = max(HALF_LIFE_MIN, (period.end - period.start).days + 1)
        if dated.start > period.end:
            fit = AFTER * 0.5 ** ((dated.start - period.end).days / half_life)
        elif dated.end < period.start:
            fit = AFTER * 0.5 ** (BEFORE * (period.start - dated.start).days / half_life)
        else:
            fit = 1.0
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
    timed = [
        Ranked(c, c.score * (FLOOR + (1 - FLOOR) * prior(dates.get(c.file_id), asked)) if asked else c.score)
        for c in candidates
    ]
    if not evidence:
        return sorted(timed, key=lambda r: -r.score)
    by_doc: dict[int, list[float]] = defaultdict(list)
    for r in timed:
        by_doc[r.page.file_id].append(r.score)
    for scores in by_doc.values():
        scores.sort(reverse=True)
    ranked = []
    for r in timed:
        others = list(by_doc[r.page.file_id])
        others.remove(r.score)
        support = sum(0.5**i * min(r.score, s) for i, s in enumerate(others[:EVIDENCE_PAGES]))
        ranked.append(Ranked(r.page, r.score + EVIDENCE * support))
    return sorted(ranked, key=lambda r: -r.score)


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
