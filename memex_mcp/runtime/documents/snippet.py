"""The snippet of a search hit: verbatim text from one line of the page.

A snippet never joins two lines (a PDF's line wrapping would put a break where the snippet shows a
space), so whatever part of it is copied is found in the page: `hit.text.find(hit.snippet.strip("…"))`
is where it starts. `…` marks that the page goes on before or after it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

#: Longest snippet, in characters: about what a printed hit line has room for after the file name.
SNIPPET = 64
_WORD = re.compile(r"\w+")
_LINE = re.compile(r"[^\n\v\f\x1c-\x1e\x85\u2028\u2029]+")
Span = tuple[int, int]


def snippet(text: str, spans: Sequence[Span], limit: int = SNIPPET) -> tuple[int, str]:
    """(where the snippet's text starts in `text`, the snippet with its `…`). `spans` are the
    matched words' (start, end) in `text`: the snippet is the line that holds the most of them, each
    distinct word weighing the less the more often the page has it (`EMEA` beats a fifth `revenue`:
    see `_Weights`),
    the first such line, cut around them to at most `limit` characters at spaces."""
    weigh = _Weights(text, spans)
    best: tuple[float, int, int, int] | None = None  # (weight, matches, line start, line end)
    for line in _LINE.finditer(text):
        inside = [(s, e) for s, e in spans if line.start() <= s < line.end()]
        if not inside and best is not None:
            continue
        score = (weigh(inside), len(inside))
        if best is None or score > best[:2]:
            best = (*score, line.start(), line.end())
    if best is None:
        return 0, ""
    line_start, line_end = best[2:]
    inside = [(s, min(e, line_end)) for s, e in spans if line_start <= s < line_end]
    start, end = _window(text, line_start, line_end, inside, limit, weigh)
    shown = text[start:end]
    return start, ("…" if start > 0 else "") + shown + ("…" if end < len(text) else "")


class _Weights:
    """The weight of some matches: the sum, over the distinct words and phrases among them, of one
    over how often the page has it. A matched phrase (`Kiri-2`) counts as itself and as its words,
    so a line with the phrase beats one with its words apart (`Kiri-1 … 2.1 kg`)."""

    def __init__(self, text: str, spans: Sequence[Span]) -> None:
        self.text = text
        self.counts = Counter(key for span in spans for key in self._keys(span))

    def _keys(self, span: Span) -> set[str]:
        matched = self.text[span[0] : span[1]].casefold()
        return {matched, *_WORD.findall(matched)}

    def __call__(self, spans: Sequence[Span]) -> float:
        keys = {key for span in spans for key in self._keys(span)}
        # A phrase matched across a line break is cut at the line end: its cut text was never counted.
        return sum(1 / self.counts[key] for key in keys if self.counts[key])


def _window(
    text: str, line_start: int, line_end: int, spans: list[Span], limit: int, weigh: _Weights
) -> tuple[int, int]:
    """The part of the line to show: all of it if it fits, else the `limit` characters whose
    matches weigh the most, a quarter of it before the first, trimmed to whole words."""
    start, end = _strip(text, line_start, line_end)
    if end - start <= limit:
        return start, end
    best, best_score = start, -1.0
    for anchor, _ in spans or [(start, start)]:
        at = max(start, min(anchor - limit // 4, end - limit))
        score = weigh([(s, e) for s, e in spans if at <= s and e <= at + limit])
        if score > best_score:
            best, best_score = at, score
    cut_start, cut_end = best, min(end, best + limit)
    if cut_start > start and not text[cut_start - 1].isspace():  # begin at a word
        space = text.find(" ", cut_start, cut_end)
        first_match = min((s for s, _ in spans if s >= cut_start), default=cut_end)
        if 0 <= space < first_match:
            cut_start = space + 1
    if cut_end < end and not text[cut_end].isspace():  # end after a word
        space = text.rfind(" ", cut_start, cut_end)
        if space > cut_start:
            cut_end = space
    return _strip(text, cut_start, cut_end)


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    """`start`, `end` moved inwards past blanks."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
