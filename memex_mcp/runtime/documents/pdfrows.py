"""Table rows in a PDF page's text: the cells of a row on one line, in order, between ` | `.

PDFium's text already puts the cells of a row on one line, left to right, but only one space apart,
so `Cost of revenue 53.8` could be one cell or two. A cell is a text run of its own with a gap
before the next one far wider than a word space. Finding those gaps is cheap: PDFium counts the
text runs of each line in C (a line of prose is one run, or a few a word space apart), and only a
line with a wide gap between two runs has the character after the gap looked up, to find the space
between the cells.
"""

from __future__ import annotations

import ctypes
import itertools
import re
from typing import Any

#: A gap between two runs of a line wider than this many times the line's tallest glyph box (about
#: 0.7 of the font size) separates cells; the word spaces of prose, even justified, nearly always
#: stay below it.
CELL_GAP = 1.0
#: What stands between two cells, as in the tables of DOCX and HTML files.
SEPARATOR = " | "

_LINE = re.compile(r"[^\r\n]*[ ][^\r\n]*")


def with_cells(textpage: Any, text: str) -> str:
    """`text` (the whole page's, from `textpage.get_text_range()`) with the cells of each table row
    joined by `SEPARATOR`. Unchanged where PDFium's text does not map one character to one (then
    the boxes cannot be matched to it)."""
    import pypdfium2.raw as pdfium  # type: ignore[import-untyped]

    page = textpage.raw  # the raw handle: ctypes converts it faster than the wrapper
    if pdfium.FPDFText_CountChars(page) != len(text):
        return text
    count_runs, get_run, char_at = (
        pdfium.FPDFText_CountRects,
        pdfium.FPDFText_GetRect,
        pdfium.FPDFText_GetCharIndexAtPos,
    )
    left, top, right, bottom = (ctypes.c_double() for _ in range(4))
    cuts: list[int] = []
    for line in _LINE.finditer(text):
        start, end = line.span()
        runs = count_runs(page, start, end - start)
        if runs < 2:
            continue
        boxes = []
        for n in range(runs):
            get_run(page, n, left, top, right, bottom)
            boxes.append((left.value, right.value, top.value, bottom.value))
        gap = CELL_GAP * max(t - b for _, _, t, b in boxes)
        for before, after in itertools.pairwise(boxes):
            if after[0] - before[1] > gap:
                # The first character of the run after the gap, and the space before it.
                first = char_at(page, after[0] + 0.1, (after[2] + after[3]) / 2, 1, 1)
                if start < first < end and text[first - 1] == " ":
                    cuts.append(first - 1)
    if not cuts:
        return text
    pieces, at = [], 0
    for space in sorted(set(cuts)):
        pieces += [text[at:space].rstrip(" "), SEPARATOR]
        at = space + 1
    pieces.append(text[at:])
    return "".join(pieces)
