"""`docs` and `read_document` through a real MCP client: a real kernel indexes real PDF, DOCX, HTML
and Markdown files (written here) from its data dir, among a corrupt, an encrypted and an empty file."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import run, settings, text_of
from mcp import Client

from memex_mcp.server import build_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
# The example generator: reportlab PDFs, a python-docx memo, HTML, Markdown.
import make_documents

pytestmark = pytest.mark.anyio


def encrypted_pdf() -> bytes:
    from reportlab.lib import pdfencrypt
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    pdf = canvas.Canvas(out, encrypt=pdfencrypt.StandardEncryption("secret", canPrint=0))
    pdf.drawString(72, 720, "The vault code is 7421.")
    pdf.save()
    return out.getvalue()


def blank_pdf(pages: int) -> bytes:
    """Pages with a drawing and no text, as a scan without OCR is to a text extractor."""
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    pdf = canvas.Canvas(out)
    for _ in range(pages):
        pdf.rect(72, 72, 200, 200, fill=1)
        pdf.showPage()
    pdf.save()
    return out.getvalue()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("docs-data")
    make_documents.main(root / "reports")
    (root / "broken.pdf").write_bytes(b"%PDF-1.4\n this is not really a pdf \n%%EOF")
    (root / "vault.pdf").write_bytes(encrypted_pdf())
    (root / "empty.txt").write_bytes(b"")
    (root / "blank.pdf").write_bytes(blank_pdf(2))
    (root / "notes.csv").write_text("a,b\n1,2\n")  # a table, not a document: not in docs
    (root / ".hidden.md").write_text("hidden")
    return root


def server(data_dir: Path) -> Client:
    return Client(build_server(settings(timeout=60, output_limit=4000, data_dirs=(data_dir,))), raise_exceptions=True)


@pytest.fixture(scope="module")
async def client(anyio_backend: str, data_dir: Path) -> AsyncIterator[Client]:
    async with server(data_dir) as c:
        await run(c, "len(docs)")  # waits for the index and takes its report of skipped files
        yield c


async def output(client: Client, code: str) -> str:
    result = await run(client, code)
    assert not result.is_error, text_of(result)
    return text_of(result)


async def test_unreadable_files_are_reported_once_with_the_reason_and_the_rest_is_searchable(data_dir: Path) -> None:
    async with server(data_dir) as client:
        await check_the_report(client)


async def check_the_report(client: Client) -> None:
    first = await output(client, "hits = docs.search('What was Q3 2025 revenue in the EMEA region?')")
    assert "docs: skipped 2 file(s)" in first
    assert "broken.pdf: not a readable PDF" in first
    assert "vault.pdf: encrypted PDF: it needs a password" in first
    assert await output(client, "hits = docs.search('EMEA revenue')\nlen(hits) > 0") == "True"  # not again
    assert await output(client, "print(docs.refresh().skipped)") == "2"  # a new look, the same files: not again
    table = json.loads(await output(client, "print(docs.list().to_json(orient='records'))"))
    rows = {row["id"]: row for row in table}
    assert set(rows) == {
        "broken.pdf",
        "vault.pdf",
        "empty.txt",
        "blank.pdf",
        "reports/handbook.md",
        "reports/kiri2_press_release.html",
        "reports/travel_memo.docx",
        *(f"reports/kestrel_q{q}_2025_report.pdf" for q in (1, 2, 3)),
    }
    assert rows["vault.pdf"]["status"] == "skipped" and "password" in rows["vault.pdf"]["reason"]
    assert rows["broken.pdf"]["status"] == "skipped"
    assert (rows["empty.txt"]["status"], rows["empty.txt"]["pages"], rows["empty.txt"]["reason"]) == (
        "empty",
        0,
        "the file is empty",
    )
    assert (rows["blank.pdf"]["status"], rows["blank.pdf"]["pages"]) == ("empty", 2)
    assert rows["blank.pdf"]["reason"] == "no text on its 2 page(s) (scanned? it would need OCR)"
    q3 = rows["reports/kestrel_q3_2025_report.pdf"]
    assert (q3["file"], q3["pages"], q3["status"]) == ("kestrel_q3_2025_report.pdf", 3, "ok") and q3["chars"] > 500


async def test_a_document_question_is_answered_by_the_first_hit(client: Client) -> None:
    hit = await output(client, "hit = docs.search('What was Q3 2025 revenue in the EMEA region?')[0]\nhit")
    assert hit.startswith("reports/kestrel_q3_2025_report.pdf p.2 (")
    assert len(hit) <= 110 and "\n" not in hit
    assert await output(client, "hit.doc, hit.page, '$44.6 million' in hit.text, hit.score > 0") == (
        "('reports/kestrel_q3_2025_report.pdf', 2, True, True)"
    )
    assert await output(client, "docs[hit.doc].pages[hit.page - 1] == hit.text") == "True"


@pytest.mark.parametrize(
    ("question", "doc", "page"),
    [
        ("hotel cap per night in Munich", "reports/travel_memo.docx", 1),
        ("How much does the Kiri-2 weigh?", "reports/kiri2_press_release.html", 1),
        ("How many days of annual leave do employees get?", "reports/handbook.md", 1),
        ("Q1 2025 outlook: expected revenue in Q2", "reports/kestrel_q1_2025_report.pdf", 3),
        ("research and development costs in Q2 2025", "reports/kestrel_q2_2025_report.pdf", 2),
    ],
)
async def test_search_ranks_the_right_page_first(client: Client, question: str, doc: str, page: int) -> None:
    code = "h = docs.search(question)[0]\nprint(h.doc, h.page)"
    assert await output(client, f"question = {question!r}\n{code}") == f"{doc} {page}"


async def test_ten_hits_print_as_ten_short_lines(client: Client) -> None:
    text = await output(client, "docs.search('Kestrel Instruments revenue 2025 region EMEA costs', k=10)")
    lines = text.splitlines()
    assert len(lines) == 10 and len(text) < 1200
    assert [line.split(" ", 1)[0] for line in lines] == [f"[{i}]" for i in range(10)]


async def test_any_text_is_a_safe_query(client: Client) -> None:
    for query in [
        '"EMEA" AND (revenue',
        "NEAR(EMEA revenue) -APAC*",
        "revenue:EMEA OR",
        "EMEA's Q3-2025 revenue?",
        '"unclosed EMEA phrase',
    ]:
        text = await output(client, f"hits = docs.search({query!r})\nprint(len(hits), hits[0].doc if hits else '')")
        assert text.split()[0] != "0", query
    assert (
        await output(client, "docs.search('?! -- ()')") == "no hits for '?! -- ()' (try other words, "
        "or docs.grep(pattern) for exact text)"
    )


async def test_grep_finds_matching_lines_with_document_and_page(client: Client) -> None:
    code = r"m = docs.grep(r'EMEA \| \d+\.\d')" "\nprint(len(m), sorted({(x.doc, x.page) for x in m}))\nm"
    text = await output(client, code)
    first, *lines = text.splitlines()
    assert first == "3 [" + ", ".join(f"('reports/kestrel_q{q}_2025_report.pdf', 2)" for q in (1, 2, 3)) + "]"
    assert lines[0] == "reports/kestrel_q1_2025_report.pdf p.2: EMEA | 38.9 | n/a"
    code = "from collections import Counter\nprint(dict(Counter(m.doc for m in docs.grep('(?i)kiri-2'))))"
    kiri = await output(client, code)
    assert kiri == "{'reports/kestrel_q3_2025_report.pdf': 2, 'reports/kiri2_press_release.html': 4}"


async def test_a_document_by_id_or_file_name_has_its_pages_and_text(client: Client) -> None:
    text = await output(client, "d = docs['travel_memo.docx']\nprint(d.id, len(d.pages), 'Munich | 180' in d.text)\nd")
    assert text.startswith("reports/travel_memo.docx 1 True\n<Document reports/travel_memo.docx: 1 page, ")
    result = await run(client, "docs['travel_memo.pdf']")
    assert result.is_error
    assert "no document 'travel_memo.pdf' in docs; did you mean" in text_of(result)
    result = await run(client, "docs['vault.pdf']")
    assert result.is_error and "vault.pdf was skipped: encrypted PDF" in text_of(result)


async def test_read_document_reads_one_file_without_indexing_it(client: Client, data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "loose.md").write_text("# Loose\n\nThe loose note mentions zephyrine.")
    code = f"d = read_document({str(tmp_path / 'loose.md')!r})\nprint(d.pages, len(docs.search('zephyrine')))"
    assert await output(client, code) == "['# Loose\\n\\nThe loose note mentions zephyrine.'] 0"
    pdf = await output(client, f"len(read_document({str(data_dir / 'reports/kestrel_q2_2025_report.pdf')!r}).pages)")
    assert pdf == "3"
    result = await run(client, f"read_document({str(data_dir / 'broken.pdf')!r})")
    assert result.is_error
    assert "DocumentError: cannot read" in text_of(result) and "not a readable PDF" in text_of(result)


async def test_added_files_are_searchable_at_once(client: Client, tmp_path: Path) -> None:
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "minutes.txt").write_text("Board minutes: the board approved the Oslo office.")
    (tmp_path / "more" / "bad.docx").write_bytes(b"not a zip")
    text = await output(client, f"docs.add({str(tmp_path / 'more')!r})")
    assert text.startswith("docs: skipped 1 file(s)") and "more/bad.docx: corrupt or unreadable DOCX" in text
    assert text.endswith("['more/minutes.txt']")
    assert await output(client, "print(docs.search('Oslo office')[0])") == (
        "more/minutes.txt p.1 ("
        + (await output(client, "print(f'{docs.search(\"Oslo office\")[0].score:.2f}')"))
        + ") Board minutes: the board approved the Oslo office."
    )


async def test_html_scripts_and_styles_are_not_text(client: Client) -> None:
    assert await output(client, "len(docs.grep('not text|font-family'))") == "0"
    assert await output(client, "docs['kiri2_press_release.html'].text.count('Kiri-2 | 1.4 kg | 8 h')") == "1"


async def test_a_long_text_is_cut_into_pages_at_paragraph_boundaries(client: Client, tmp_path: Path) -> None:
    paragraphs = [f"Paragraph {n} is about the subject s{n}. " + "Filler words follow here. " * 14 for n in range(40)]
    (tmp_path / "long.md").write_text("\n\n".join(paragraphs))
    code = (
        "docs.add(path)\nd = docs['long.md']\nh = docs.search('subject s33')[0]\n"
        "print(len(d.pages), max(map(len, d.pages)) <= 3000, all(p.startswith('Paragraph') for p in d.pages))\n"
        "print(h.doc, 'Paragraph 33 ' in h.text, h.page)"
    )
    first, second = (await output(client, f"path = {str(tmp_path / 'long.md')!r}\n{code}")).splitlines()
    assert first == "6 True True"  # 7 paragraphs of ~400 characters a page
    assert second == "long.md True 5"


async def test_words_joined_by_punctuation_rank_pages_that_have_them_together_first(
    client: Client, tmp_path: Path
) -> None:
    (tmp_path / "birds.txt").write_text("Kiri birds: kiri, kiri and more kiri. Model 2, size 2, row 2, page 2.")
    (tmp_path / "launch.txt").write_text("The Kiri-2 ships in November, says the launch note of the quarter.")
    code = (
        f"ids = docs.add({str(tmp_path)!r})\n"
        "print([h.doc.rsplit('/')[-1] for h in docs.search('Kiri-2', k=50) if h.doc in ids])"
    )
    assert await output(client, code) == "['launch.txt', 'birds.txt']"


async def test_a_hit_line_shows_file_page_score_and_a_snippet_of_its_page_and_k_defaults_to_ten(
    client: Client,
) -> None:
    code = (
        "hits = docs.search('Kestrel Instruments revenue 2025 region EMEA costs')\n"
        "h = hits[0]\nprint(len(hits), len(docs.search('Kestrel revenue', k=3)))\n"
        "print(isinstance(h.snippet, str), '\\n' not in h.snippet, 0 < len(h.snippet) < len(h.text))\n"
        "print(' '.join(h.snippet.replace('…', ' ').split()[:3]) in ' '.join(h.text.split()))\n"
        "print(str(h) == str(hits).splitlines()[0].split(' ', 1)[1], f'p.{h.page} ({h.score:.2f})' in str(h))"
    )
    assert await output(client, code) == "10 3\nTrue True True\nTrue\nTrue True"
