"""What `docs` hands back: documents, search hits and grep matches, each printing compactly.

A hit or a match prints as one line of at most `LINE` characters, so ten of them cost about a
thousand characters of the model's context; the full page stays on the object (`.text`).

Pages are numbered from 1, as a reader would cite them, everywhere but in `Document.pages`, which is
a plain list and so counts from 0. `doc.page(n)` is page n counted from 1, and `doc.page(hit)` is
the hit's page: `docs[hit].page(hit) == docs[hit.doc].page(hit.page) == hit.text`. Where a PDF
prints its own page labels (`iv`, `A-3`), a hit shows the label beside the number: `p.7 (printed v)`.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from pathlib import Path

from memex_mcp.text import shorten

#: Longest line a hit or a match prints as.
LINE = 110
#: Longest document name in such a line: the doc id, else its file name, else the name's tail.
NAME = 40
#: Matches a list of matches prints before it says how many more there are.
SHOWN_MATCHES = 20
_SPACE = re.compile(r"\s+")


def _name(doc: str) -> str:
    """The doc id, shortened in the middle: its head tells apart files of the same name."""
    if len(doc) <= NAME:
        return doc
    name = doc.rsplit("/", 1)[-1]
    if len(name) > NAME - 4:
        return "…" + name[-(NAME - 1) :]
    return doc[: NAME - len(name) - 2] + "…/" + name


def _page(page: int, label: str) -> str:
    """`p.7`, and the label the page prints where it differs from the number: `p.7 (printed v)`."""
    if not label or label == str(page):
        return f"p.{page}"
    return f"p.{page} (printed {shorten(label, 16)})"


@dataclass(frozen=True, repr=False)
class Document:
    """A document's text, page by page. `id` is its doc id in `docs` (for `read_document`: the
    path as given); `path` is the file. `date` is when it was published, None when nothing dates
    it: the first day of the period it is dated by, and `period` says how precise that is —
    `2024-09-30` a day, `2024-09` a month, `2024-Q3` a quarter, `2024-H1` a half, `2024` a year,
    `FY2024` a fiscal year; `date_from` is where it was read: "name", "first page" or "metadata"."""

    id: str
    path: Path
    #: The page texts: a plain list, so `pages[0]` is page 1 (`page(n)` counts from 1).
    pages: list[str] = field(default_factory=list)
    #: Beside each page, the label the PDF prints on it ("" where it has none).
    labels: list[str] = field(default_factory=list)
    date: datetime.date | None = None
    period: str = ""
    date_from: str = ""

    def page(self, n: int | Hit | Match) -> str:
        """Page `n`, counted from 1 as hits and matches count (`p.2` is `page(2)`), or the page of a
        hit or match of this document."""
        if isinstance(n, Hit | Match):
            if n.doc != self.id:
                raise ValueError(
                    f"that {type(n).__name__.lower()} is on {n.doc}, not on {self.id}: "
                    f"docs[{n.doc!r}].page({n.page}) is its page"
                )
            n = n.page
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"doc.page(n) takes a page number (from 1) or a hit, not {type(n).__name__}")
        if not 1 <= n <= len(self.pages):
            numbers = f"pages 1 to {len(self.pages)}" if self.pages else "no pages"
            raise IndexError(
                f"{self.id} has no page {n}: it has {numbers} (doc.page(n) counts from 1, "
                "doc.pages is a list counted from 0)"
            )
        return self.pages[n - 1]

    @property
    def text(self) -> str:
        """All pages, separated by blank lines."""
        return "\n\n".join(self.pages)

    @property
    def chars(self) -> int:
        return sum(len(p) for p in self.pages)

    def __len__(self) -> int:
        return len(self.pages)

    def __repr__(self) -> str:
        start = " ".join(self.text[:200].split())
        start = f': "{shorten(start, 60)}"' if start else ""
        pages = "1 page" if len(self.pages) == 1 else f"{len(self.pages):,} pages"
        dated = f", dated {self.period} ({self.date_from})" if self.period else ""
        return f"<Document {self.id}: {pages}, {self.chars:,} chars{dated}{start}>"


@dataclass(frozen=True, repr=False)
class Hit:
    """One ranked page: `doc` (its doc id, so `docs[hit.doc]` is the document), `page` (from 1),
    `score` (BM25, higher is better; for a query naming a period, BM25 scaled by how well the
    document's date fits it, plus its other pages' evidence), `snippet` (verbatim text of one line
    of the page, around the matched words, `…` where the page goes on), `text` (the page), `offset`
    (where the snippet's text starts in `text`), `label` (the page's printed label, "" if none)."""

    doc: str
    page: int
    score: float
    snippet: str
    text: str
    offset: int = 0
    label: str = ""

    def context(self, chars: int = 600) -> str:
        """About `chars` characters of the page around the snippet, verbatim, cut at whitespace:
        `hit.text.find(hit.context())` is where it starts."""
        text, core = self.text, len(self.snippet.strip("…"))
        size = max(chars, core)
        start = max(0, min(self.offset - (size - core) // 2, len(text) - size))
        end = min(len(text), start + size)
        if start > 0 and not text[start - 1].isspace() and (space := _SPACE.search(text, start, self.offset)):
            start = space.end()
        if end < len(text) and not text[end].isspace():
            after = self.offset + core
            cut = max(text.rfind(" ", after, end), text.rfind("\n", after, end))
            end = cut if cut >= 0 else end
        return text[start:end]

    def __repr__(self) -> str:
        prefix = f"{_name(self.doc)} {_page(self.page, self.label)} ({self.score:.2f}) "
        room = max(20, LINE - len(prefix) - len("[99] "))  # the same line in a list of hits, after its number
        shown = self.snippet
        if len(shown) > room:  # cut after a word, so what shows is still the page's text
            cut = shown.rfind(" ", 0, room)
            shown = shown[: cut if cut > room // 2 else room - 1].rstrip() + "…"
        return prefix + shown


class Hits(list[Hit]):
    """Search results, best first; prints one numbered line per hit."""

    def __init__(self, hits: list[Hit], query: str = "") -> None:
        super().__init__(hits)
        self.query = query

    def __repr__(self) -> str:
        if not self:
            return f"no hits for {self.query!r} (try other words, or docs.grep(pattern) for exact text)"
        return "\n".join(shorten(f"[{i}] {hit!r}", LINE) for i, hit in enumerate(self))


@dataclass(frozen=True, repr=False)
class Match:
    """One line that a `docs.grep` pattern matched: `doc` (doc id), `page` (from 1), `line` (the
    whole line), `match` (the matched text), `label` (the page's printed label, "" if none)."""

    doc: str
    page: int
    line: str
    match: str
    label: str = ""

    def __repr__(self) -> str:
        line, prefix = self.line.strip(), f"{_name(self.doc)} {_page(self.page, self.label)}: "
        room = LINE - len(prefix)
        if len(line) > room:  # keep the match in view on a long line
            at = max(0, line.find(self.match) - room // 3)
            if at and not line[at - 1].isspace() and 0 <= (space := line.find(" ", at)) < line.find(self.match):
                at = space + 1  # begin at a word
            line = ("…" if at else "") + line[at:]
        return shorten(prefix + line, LINE)


class Matches(list[Match]):
    """Grep results in document and page order; prints the first few lines and how many more."""

    def __init__(self, matches: list[Match], pattern: str = "") -> None:
        super().__init__(matches)
        self.pattern = pattern

    def __repr__(self) -> str:
        if not self:
            return f"no line matches {self.pattern!r}"
        lines = [repr(m) for m in self[:SHOWN_MATCHES]]
        if len(self) > SHOWN_MATCHES:
            lines.append(f"… {len(self) - SHOWN_MATCHES:,} more (len {len(self):,}; they are all in this list)")
        return "\n".join(lines)


@dataclass(frozen=True, repr=False)
class DocumentHit:
    """One ranked document: `doc` (doc id), `date` and `period` (as `Document`'s; None and "" when
    undated), `score` (higher is better), `pages` (its best pages, the evidence: `Hits`)."""

    doc: str
    date: datetime.date | None
    period: str
    score: float
    pages: Hits

    def __repr__(self) -> str:
        where = ", ".join(_page(h.page, h.label) for h in self.pages)
        prefix = f"{_name(self.doc)} {self.period or 'undated'} ({self.score:.2f}) {where}: "
        best = self.pages[0].snippet if self.pages else ""
        return shorten(prefix + best, LINE - len("[99] "))


class DocumentHits(list[DocumentHit]):
    """Documents ranked, best first; prints one numbered line per document (id, date, score, pages,
    the best page's snippet)."""

    def __init__(self, hits: list[DocumentHit], query: str = "") -> None:
        super().__init__(hits)
        self.query = query

    def __repr__(self) -> str:
        if not self:
            return f"no documents match {self.query!r} (try other words, or docs.grep(pattern) for exact text)"
        return "\n".join(f"[{i}] {hit!r}" for i, hit in enumerate(self))
