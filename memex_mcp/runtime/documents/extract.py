"""Text out of one file, page by page: PDF, DOCX, HTML, Markdown and plain text.

PDFs keep their own pages, and their printed page labels where they have them (`iv`, `A-3`). Words
that the PDF's line wrapping cut are joined again (`man-`/`agement`, `R_`/`LIBS_USER`), so that a word
found in a page's text reads as it was printed. The other formats have no pages of their own, so their text is cut into
pages of at most `PAGE_CHARS` characters at paragraph boundaries (a short file is one page): a search
hit then points at a passage, not at a whole book. The libraries are imported on first use, never at
kernel start.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from memex_mcp.runtime.documents.errors import DocumentError
from memex_mcp.runtime.documents.pdfrows import with_cells
from memex_mcp.runtime.documents.workers import progress

#: Longest page cut from a format without pages (about a printed page of prose).
PAGE_CHARS = 3000

PDF = frozenset({".pdf"})
DOCX = frozenset({".docx"})
HTML = frozenset({".html", ".htm", ".xhtml"})
TEXT = frozenset({".md", ".markdown", ".txt", ".text", ".rst"})
SUFFIXES = PDF | DOCX | HTML | TEXT


def supported(path: Path) -> bool:
    """A document this module reads; hidden files and Office lock files (`~$memo.docx`) are not."""
    return path.suffix.lower() in SUFFIXES and not path.name.startswith((".", "~$"))


@dataclass(frozen=True)
class Extracted:
    """The text of each page, and beside it the page's printed label ("" where the file has none)."""

    pages: list[str]
    labels: list[str]


def extract(path: Path) -> list[str]:
    """The text of each page of `path` (see `read`)."""
    return read(path).pages


def read(path: Path) -> Extracted:
    """The pages of `path` and their labels. An empty file has no pages; an unreadable one raises
    `DocumentError` (any other exception from a parser is turned into one too)."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DocumentError(f"unsupported file type {suffix or '(none)'}: read {', '.join(sorted(SUFFIXES))}")
    with _failing_as_document_error(suffix):
        if path.stat().st_size == 0:
            return Extracted([], [])
        if suffix in PDF:
            return _pdf_range(path, 0, None)[0]
        if suffix in DOCX:
            text = _docx(path)
        elif suffix in HTML:
            text = _html(_decode(path.read_bytes()))
        else:
            text = _decode(path.read_bytes())
    pages = paginate(text)
    return Extracted(pages, [""] * len(pages))


def read_pdf_range(path: Path, start: int, stop: int | None) -> tuple[Extracted, int]:
    """Pages `start` to `stop` (exclusive; None: to the last) of the PDF at `path`, as `read` gives
    them, and how many pages it has: a long PDF is read in parts by several processes."""
    with _failing_as_document_error(".pdf"):
        return _pdf_range(path, start, stop)


@contextlib.contextmanager
def _failing_as_document_error(suffix: str) -> Iterator[None]:
    try:
        yield
    except DocumentError:
        raise
    except OSError as exc:
        raise DocumentError(f"cannot open: {exc.strerror or exc}") from exc
    except Exception as exc:  # a parser's own error on a corrupt file: report it, never stop the rest
        raise DocumentError(f"corrupt or unreadable {suffix[1:].upper()} ({type(exc).__name__}: {exc})") from exc


def paginate(text: str, limit: int = PAGE_CHARS) -> list[str]:
    """`text` cut into pages of at most `limit` characters, at blank lines, else at line ends."""
    text = _tidy(text)
    if not text:
        return []
    pages: list[str] = []
    current = ""
    for block in _blocks(text, limit):
        if current and len(current) + 2 + len(block) > limit:
            pages.append(current)
            current = block
        else:
            current = f"{current}\n\n{block}" if current else block
    pages.append(current)
    return pages


def _blocks(text: str, limit: int) -> list[str]:
    blocks: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = paragraph.strip("\n")
        while len(paragraph) > limit:
            cut = paragraph.rfind("\n", 0, limit)
            if cut <= 0:
                cut = paragraph.rfind(" ", 0, limit)
            if cut <= 0:
                cut = limit
            blocks.append(paragraph[:cut])
            paragraph = paragraph[cut:].lstrip()
        if paragraph.strip():
            blocks.append(paragraph)
    return blocks


def _tidy(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    return re.sub(r"[ \t]+\n", "\n", text).strip()


def _decode(data: bytes) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


#: PDFium marks a hyphen at a line's end with U+FFFE (`man\ufffeagement`, `year\ufffeover-year`).
_HYPHENATION = re.compile("\ufffe(?:\r?\n)?(\\S*)")
#: A line break right after `_` or `/` inside a token (`R_` / `LIBS_USER`, `https://host/` / `path`)
#: is the PDF's wrapping, not the text's: no word ends that way. A run of blanks (`Name: ____`) does.
_WRAPPED_TOKEN = re.compile(r"(?<=[^\W_][_/])\n(?=[^\W_])")


def _unhyphenate(match: re.Match[str]) -> str:
    """The hyphen goes where it only split a word (`man-agement`), and stays in a compound
    (`year-over-year`) and before a capital or a digit (`non-European`, `Kiri-2`)."""
    rest, before = match[1], match.string[match.start() - 1 : match.start()]
    keep = "-" in rest or rest[:1].isupper() or rest[:1].isdigit() or before.isdigit()
    return ("-" if keep else "") + rest


def join_wrapped(text: str) -> str:
    """A PDF page's text with the words its line wrapping cut joined again (see the module doc)."""
    text = _HYPHENATION.sub(_unhyphenate, text)
    return _WRAPPED_TOKEN.sub("", _tidy(text))


def _pdf_range(path: Path, start: int, stop: int | None) -> tuple[Extracted, int]:
    import pypdfium2  # type: ignore[import-untyped]

    try:
        pdf = pypdfium2.PdfDocument(path)
    except pypdfium2.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise DocumentError("encrypted PDF: it needs a password") from exc
        raise DocumentError(f"not a readable PDF ({exc})") from exc
    try:
        pages, labels = [], []
        count = len(pdf)
        for index in range(start, count if stop is None else min(stop, count)):
            page = pdf[index]
            textpage = page.get_textpage()
            pages.append(join_wrapped(with_cells(textpage, textpage.get_text_range())))
            labels.append(" ".join(pdf.get_page_label(index).split()))
            textpage.close()
            page.close()
            progress()  # a worker reading a long PDF is not taken for a hung one
        return Extracted(pages, labels), count
    finally:
        pdf.close()


def _docx(path: Path) -> str:
    import docx
    from docx.table import Table

    document = docx.Document(str(path))
    parts: list[str] = []
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            rows = (" | ".join(cell.text.strip() for cell in row.cells) for row in item.rows)
            parts.append("\n".join(rows))
        elif item.text.strip():
            parts.append(item.text)
    return "\n\n".join(parts)


class _HtmlText(HTMLParser):
    """The visible text of a page: blocks on their own lines, table cells separated by ` | `."""

    SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head"})
    BLOCK = frozenset(
        {
            "p",
            "div",
            "section",
            "article",
            "header",
            "footer",
            "main",
            "aside",
            "nav",
            "br",
            "li",
            "ul",
            "ol",
            "table",
            "tr",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "pre",
            "blockquote",
            "dl",
            "dt",
            "dd",
            "figure",
            "figcaption",
            "hr",
            "title",
            "caption",
            "form",
        }
    )
    PARAGRAPH = frozenset(
        {
            "p",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "table",
            "ul",
            "ol",
            "pre",
            "blockquote",
            "section",
            "article",
            "title",
        }
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in self.SKIP:
            self._skip += 1
        elif tag in ("td", "th"):
            self.parts.append(" | ")
        elif tag in self.BLOCK:
            self.parts.append("\n\n" if tag in self.PARAGRAPH else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self.SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in self.BLOCK:
            self.parts.append("\n\n" if tag in self.PARAGRAPH else "\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skip:
            self.parts.append(data)


def _html(markup: str) -> str:
    parser = _HtmlText()
    parser.feed(markup)
    parser.close()
    lines = []
    for line in "".join(parser.parts).split("\n"):
        line = " ".join(line.split())
        line = line.removeprefix("| ")
        lines.append(line)
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    title = " ".join(parser.title.split())
    return f"{title}\n\n{body}" if title and not body.startswith(title) else body
