"""Pages and snippets of `docs` through a real MCP client, as a model reads them: a page by its number
(from 1) or by a hit is the hit's page, a snippet is text the page holds even where the PDF wrapped
a line inside a word, printed page labels show beside the number, and data dirs of the same name
lose no document."""

from __future__ import annotations

import io
import json
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import run, settings, text_of
from mcp import Client

from memex_mcp.runtime.documents.corpus import INDEX_FILE
from memex_mcp.runtime.documents.index import SCHEMA_VERSION
from memex_mcp.server import Settings, build_server

pytestmark = pytest.mark.anyio

#: The lines of each page of the manual, drawn as they are (so a line may end inside a word).
MANUAL = [
    ["Preface", "This manual explains the library paths of the quokka toolkit."],
    ["Contents", "Installing, 1. Troubleshooting, 2."],
    [
        "Installing",
        "To install packages in your home directory, set R_",
        "LIBS_USER to a folder you own; the quokka installer reads it",
        "at start. The quokka installer writes its log to the file",
        "named in QUOKKA_LOG every night. Its year-",
        "over-year growth in downloads was large, and its man-",
        "agement approved. Name: ______",
        "Date: ____",
    ],
    ["Troubleshooting", "If the quokka installer cannot write, check R_LIBS_USER again."],
]


def manual_pdf() -> bytes:
    """Four pages that print the labels i, ii, 1, 2."""
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    pdf = canvas.Canvas(out)
    for lines in MANUAL:
        for n, line in enumerate(lines):
            pdf.drawString(72, 720 - 16 * n, line)
        pdf.showPage()
    pdf.addPageLabel(0, style="ROMAN_LOWER")
    pdf.addPageLabel(2, style="ARABIC", start=1)
    pdf.save()
    return out.getvalue()


def plain_pdf() -> bytes:
    """Three pages without labels, with prose that wraps."""
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate

    body = getSampleStyleSheet()["BodyText"]
    story = []
    for n in range(1, 4):
        story += [
            Paragraph(f"Page {n} of the wombat survey. " + f"Wombats in burrow {n} ate grass and roots. " * 6, body),
            PageBreak(),
        ]
    out = io.BytesIO()
    SimpleDocTemplate(out).build(story[:-1])
    return out.getvalue()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pages-data")
    (root / "manual.pdf").write_bytes(manual_pdf())
    (root / "survey.pdf").write_bytes(plain_pdf())
    return root


@pytest.fixture(scope="module")
async def client(anyio_backend: str, data_dir: Path) -> AsyncIterator[Client]:
    async with Client(build_server(settings(timeout=60, data_dirs=(data_dir,))), raise_exceptions=True) as c:
        yield c


async def output(client: Client, code: str) -> str:
    result = await run(client, code)
    assert not result.is_error, text_of(result)
    return text_of(result)


async def error(client: Client, code: str) -> str:
    result = await run(client, code)
    assert result.is_error, text_of(result)
    return text_of(result)


async def test_a_page_by_its_number_from_one_or_by_the_hit_is_the_hits_page(client: Client) -> None:
    code = (
        "h = docs.search('wombats burrow 2')[0]\nd = docs[h.doc]\n"
        "print(h.doc, h.page, d.page(h.page) == h.text, docs[h].page(h) == h.text, d.pages[h.page - 1] == h.text,"
        " d.page(h.page + 1) == h.text, 'burrow 2 ate' in d.page(2), type(d.pages).__name__)"
    )
    assert await output(client, code) == "survey.pdf 2 True True True False True list"


async def test_a_page_number_out_of_range_or_a_hit_of_another_document_is_a_clear_error(client: Client) -> None:
    assert (await error(client, "docs['survey.pdf'].page(0)")).endswith(
        "IndexError: survey.pdf has no page 0: it has pages 1 to 3 (doc.page(n) counts from 1, "
        "doc.pages is a list counted from 0)"
    )
    assert "survey.pdf has no page 4: it has pages 1 to 3" in await error(client, "docs['survey.pdf'].page(4)")
    text = await error(client, "docs['survey.pdf'].page(docs.search('quokka installer log')[0])")
    assert text.endswith(
        "ValueError: that hit is on manual.pdf, not on survey.pdf: docs['manual.pdf'].page(3) is its page"
    )


@pytest.mark.parametrize(
    "query",
    [
        "R_LIBS_USER",
        "quokka installer log every night",
        "library paths of quokka",
        "year over year downloads management",
        "wombats grass roots burrow",
    ],
)
async def test_a_snippet_and_every_printed_hit_line_is_text_of_the_page_even_where_the_pdf_wrapped_a_word(
    client: Client, query: str
) -> None:
    code = (
        f"hits = docs.search({query!r})\nlines = str(hits).splitlines()\n"
        "print(json.dumps([[h.snippet, h.offset, h.text, h.context(200), line] for h, line in zip(hits, lines)]))"
    )
    rows = json.loads(await output(client, f"import json\n{code}"))
    assert rows
    for snippet, offset, text, context, line in rows:
        shown = snippet.strip("…")
        assert shown and "\n" not in snippet and text.find(shown) == offset
        assert shown in context and context in text
        printed = re.fullmatch(r".* \(\d+\.\d\d\) (.*)", line)
        assert printed is not None and printed[1].strip("…") in text, line


async def test_words_the_pdf_wrapped_read_as_printed_and_grep_finds_them(client: Client) -> None:
    code = (
        "p = docs['manual.pdf'].page(3)\n"
        "print('R_LIBS_USER to a folder' in p, 'year-over-year' in p, 'management approved' in p,"
        " 'Name: ______\\nDate' in p)\n"
        "print(sorted((m.page, m.label) for m in docs.grep('R_LIBS_USER')))"
    )
    assert await output(client, code) == "True True True True\n[(3, '1'), (4, '2')]"


async def test_printed_page_labels_show_beside_the_page_number(client: Client) -> None:
    hit = await output(client, "h = docs.search('library paths quokka toolkit')[0]\nprint(h.label)\nh")
    assert hit.startswith("i\nmanual.pdf p.1 (printed i) (")
    assert (await output(client, "docs.grep('Troubleshooting, 2')")).startswith("manual.pdf p.2 (printed ii): ")
    assert (await output(client, "docs.search('wombats burrow 3')[0]")).startswith("survey.pdf p.3 (")
    assert await output(client, "docs['manual.pdf'].labels, docs['survey.pdf'].labels") == (
        "(['i', 'ii', '1', '2'], ['', '', ''])"
    )


async def test_data_dirs_of_the_same_name_lose_no_document_and_their_ids_tell_them_apart(
    anyio_backend: str, tmp_path: Path
) -> None:
    dirs = [tmp_path / parent / "reports" for parent in ("a", "b", "c")]
    for directory in dirs:
        directory.mkdir(parents=True)
        team = directory.parent.name
        (directory / "q.md").write_text(f"The {team}-team report mentions {team}xylo.")
    (tmp_path / "d" / "reports").mkdir(parents=True)
    (tmp_path / "d" / "reports" / "q.md").write_text("The added report mentions dxylo.")
    async with Client(build_server(settings(timeout=60, data_dirs=tuple(dirs))), raise_exceptions=True) as client:
        rows = json.loads(await output(client, "print(docs.list()[['id', 'path']].to_json(orient='values'))"))
        assert rows == [
            ["c/reports/q.md", str(dirs[2] / "q.md")],
            ["q.md", str(dirs[0] / "q.md")],
            ["reports/q.md", str(dirs[1] / "q.md")],
        ]
        found = await output(client, "print([docs.search(w)[0].doc for w in ('axylo', 'bxylo', 'cxylo')])")
        assert found == "['q.md', 'reports/q.md', 'c/reports/q.md']"
        added = await output(client, f"print(docs.add({str(tmp_path / 'd' / 'reports' / 'q.md')!r}), len(docs))")
        assert added == "['d/reports/q.md'] 4"
        assert await output(client, "print(docs.refresh().files, sorted(docs.list().id))") == (
            "4 ['c/reports/q.md', 'd/reports/q.md', 'q.md', 'reports/q.md']"
        )
        assert await output(client, "print(docs['c/reports/q.md'].text)") == "The c-team report mentions cxylo."


async def test_a_cache_written_by_an_older_extraction_is_rebuilt_not_served(anyio_backend: str, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "manual.pdf").write_bytes(manual_pdf())
    state = Settings(state_dir=tmp_path / "state", data_dirs=(tmp_path / "data",), timeout=60)
    async with Client(build_server(state), raise_exceptions=True) as client:
        assert await output(client, "len(docs)") == "1"
    with sqlite3.connect(tmp_path / "state" / "cache" / INDEX_FILE) as db:  # as an older version left it
        db.execute("UPDATE pages SET text = 'stale text R_ LIBS_USER'")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION - 1}")
    db.close()
    async with Client(build_server(state), raise_exceptions=True) as client:
        assert "1 extracted, 0 unchanged" in await output(client, "len(docs), docs")
        assert await output(client, "'R_LIBS_USER' in docs['manual.pdf'].page(3), len(docs.grep('stale'))") == (
            "(True, 0)"
        )
