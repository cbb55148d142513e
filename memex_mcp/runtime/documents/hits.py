"""What `docs` hands back: documents, search hits and grep matches, each printing compactly.

A hit or a match prints as one line of at most `LINE` characters, so ten of them cost about a
thousand characters of the model's context; the full page stays on the object (`.text`).
Pages are numbered from 1, as a reader would cite them: `doc.pages[hit.page - 1] == hit.text`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

#: Longest line a hit or a match prints as.
LINE = 110
#: Longest document name in such a line: the doc id, else its file name, else the name's tail.
NAME = 40
#: Matches a list of matches prints before it says how many more there are.
SHOWN_MATCHES = 20


def _name(doc: str) -> str:
    if len(doc) <= NAME:
        return doc
    name = doc.rsplit("/", 1)[-1]
    return name if len(name) <= NAME else "…" + name[-(NAME - 1):]


def _clip(line: str, limit: int = LINE) -> str:
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass(frozen=True, repr=False)
class Document:
    """A document's text, page by page. `id` is its doc id in `docs` (for `read_document`: the
    path as given); `path` is the file."""

    id: str
    path: Path
    pages: list[str] = field(default_factory=list)

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
        start = f': "{_clip(start, 60)}"' if start else ""
        pages = "1 page" if len(self.pages) == 1 else f"{len(self.pages):,} pages"
        return f"<Document {self.id}: {pages}, {self.chars:,} chars{start}>"


@dataclass(frozen=True, repr=False)
class Hit:
    """One ranked page: `doc` (its doc id, so `docs[hit.doc]` is the document), `page` (from 1),
    `score` (BM25, higher is better), `snippet` (one line around the match), `text` (the page)."""

    doc: str
    page: int
    score: float
    snippet: str
    text: str

    def __repr__(self) -> str:
        return _clip(f"{_name(self.doc)} p.{self.page} ({self.score:.2f}) {self.snippet}")


class Hits(list[Hit]):
    """Search results, best first; prints one numbered line per hit."""

    def __init__(self, hits: list[Hit], query: str = "") -> None:
        super().__init__(hits)
        self.query = query

    def __repr__(self) -> str:
        if not self:
            return f"no hits for {self.query!r} (try other words, or docs.grep(pattern) for exact text)"
        return "\n".join(_clip(f"[{i}] {hit!r}") for i, hit in enumerate(self))


@dataclass(frozen=True, repr=False)
class Match:
    """One line that a `docs.grep` pattern matched: `doc` (doc id), `page` (from 1), `line` (the
    whole line), `match` (the matched text)."""

    doc: str
    page: int
    line: str
    match: str

    def __repr__(self) -> str:
        line, prefix = self.line.strip(), f"{_name(self.doc)} p.{self.page}: "
        room = LINE - len(prefix)
        if len(line) > room:  # keep the match in view on a long line
            at = max(0, line.find(self.match) - room // 3)
            line = ("…" if at else "") + line[at:]
        return _clip(prefix + line)


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
