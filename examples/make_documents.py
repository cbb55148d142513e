"""Write the example documents in examples/data/docs/ (the same bytes on every run).

    python examples/make_documents.py [OUT_DIR]

Kestrel Instruments is a fictional company; every figure and sentence here is made up, and the
files are part of memex-mcp (MIT licence). Three quarterly reports (PDF, three pages each: summary,
revenue and costs by region in tables and prose, outlook), a memo (DOCX), a press release (HTML)
and an employee handbook page (Markdown). Needs reportlab and python-docx (`pip install -e '.[test]'`).
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parent / "data" / "docs"
COMPANY = "Kestrel Instruments"
REGIONS = ("Americas", "EMEA", "APAC")
#: Revenue by region, millions of US dollars.
REVENUE = {
    "Q1": {"Americas": 52.4, "EMEA": 38.9, "APAC": 21.3},
    "Q2": {"Americas": 55.1, "EMEA": 40.2, "APAC": 23.8},
    "Q3": {"Americas": 57.9, "EMEA": 44.6, "APAC": 25.0},
}
#: Costs, millions of US dollars.
COSTS = {
    "Q1": {
        "Cost of revenue": 49.1,
        "Research and development": 17.8,
        "Sales and marketing": 19.6,
        "General and administrative": 9.2,
    },
    "Q2": {
        "Cost of revenue": 51.0,
        "Research and development": 18.4,
        "Sales and marketing": 20.3,
        "General and administrative": 9.4,
    },
    "Q3": {
        "Cost of revenue": 53.8,
        "Research and development": 19.9,
        "Sales and marketing": 21.1,
        "General and administrative": 9.7,
    },
}
HIGHLIGHTS = {
    "Q1": "the launch of the Merlin-4 spectrometer and a slow January in APAC",
    "Q2": "record Merlin-4 shipments and the opening of the Rotterdam service centre",
    "Q3": "the largest order in the company's history, from a German rail operator, and the Kiri-2 preview",
}
OUTLOOK = {
    "Q1": "We expect revenue between $116 million and $120 million in Q2 2025.",
    "Q2": "We expect revenue between $124 million and $128 million in Q3 2025.",
    "Q3": "We expect revenue between $131 million and $135 million in Q4 2025, with Kiri-2 shipping in November.",
}


def _total(quarter: str) -> float:
    return round(sum(REVENUE[quarter].values()), 1)


def report_pdf(quarter: str) -> bytes:
    from reportlab import rl_config
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    rl_config.invariant = 1  # no timestamps or random ids: the same bytes every run
    styles = getSampleStyleSheet()
    title, heading, body = styles["Title"], styles["Heading2"], styles["BodyText"]
    previous = {"Q1": None, "Q2": "Q1", "Q3": "Q2"}[quarter]
    revenue, costs, total = REVENUE[quarter], COSTS[quarter], _total(quarter)
    operating = round(total - sum(costs.values()), 1)
    grid = TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.grey), ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey)])

    def growth(region: str) -> str:
        if previous is None:
            return "n/a"
        return f"{100 * (revenue[region] / REVENUE[previous][region] - 1):+.1f}%"

    story = [
        Paragraph(f"{COMPANY}: Quarterly Report, {quarter} 2025", title),
        Paragraph("Summary", heading),
        Paragraph(
            f"{COMPANY} reports total revenue of ${total} million for {quarter} 2025 and an operating "
            f"income of ${operating} million. The quarter was marked by {HIGHLIGHTS[quarter]}.",
            body,
        ),
        Paragraph(
            "Kestrel designs optical measurement instruments for laboratories, utilities and rail "
            "operators, and sells them with multi-year service contracts.",
            body,
        ),
        PageBreak(),
        Paragraph(f"Revenue by region, {quarter} 2025", heading),
        Table(
            [
                ["Region", "Revenue ($M)", "Change vs previous quarter"],
                *[[r, f"{revenue[r]:.1f}", growth(r)] for r in REGIONS],
                ["Total", f"{total:.1f}", ""],
            ],
            style=grid,
        ),
        Spacer(1, 12),
        Paragraph(
            " ".join(f"Revenue in the {r} region was ${revenue[r]:.1f} million in {quarter} 2025." for r in REGIONS),
            body,
        ),
        Paragraph(f"Costs and operating income, {quarter} 2025", heading),
        Table(
            [
                ["Cost line", "Amount ($M)"],
                *[[name, f"{amount:.1f}"] for name, amount in costs.items()],
                ["Operating income", f"{operating:.1f}"],
            ],
            style=grid,
        ),
        PageBreak(),
        Paragraph("Outlook", heading),
        Paragraph(OUTLOOK[quarter], body),
        Paragraph("Risks", heading),
        Paragraph(
            "Component lead times for detector arrays remain long; a weaker euro would reduce "
            "reported EMEA revenue. Forward-looking statements are not guarantees.",
            body,
        ),
    ]
    out = io.BytesIO()
    SimpleDocTemplate(
        out, pagesize=A4, title=f"{COMPANY} {quarter} 2025", author=COMPANY, creator="examples/make_documents.py"
    ).build(story)
    return out.getvalue()


def memo_docx() -> bytes:
    import docx

    document = docx.Document()
    document.core_properties.author = COMPANY
    document.add_heading("Memo: travel and expenses from 1 October 2025", level=1)
    document.add_paragraph("From: Finance. To: all staff. Date: 15 September 2025.")
    document.add_paragraph(
        "From 1 October 2025, trips within EMEA are booked through the new travel desk. "
        "Economy class applies to flights under six hours; hotel nights are capped per city "
        "as in the table below. Receipts are due within 30 days of travel."
    )
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "City", "Hotel cap per night (EUR)"
    for city, cap in (("Rotterdam", "160"), ("Munich", "180"), ("London", "210"), ("Paris", "200")):
        cells = table.add_row().cells
        cells[0].text, cells[1].text = city, cap
    document.add_paragraph("Questions go to the travel desk at extension 4410.")
    out = io.BytesIO()
    document.save(out)
    return _fixed_zip(out.getvalue())


def _fixed_zip(data: bytes) -> bytes:
    """The same archive with fixed timestamps (python-docx stamps each member with the time)."""
    source, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(2025, 9, 15, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(fixed, source.read(info.filename))
    return out.getvalue()


PRESS_RELEASE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{COMPANY} previews Kiri-2</title>
<style>body {{ font-family: sans-serif; }}</style></head>
<body><article>
<h1>{COMPANY} previews Kiri-2, a handheld rail-inspection spectrometer</h1>
<p>Rotterdam, 2 October 2025. {COMPANY} today previewed Kiri-2, a handheld spectrometer that checks
rail steel for fatigue cracks in under a minute. It weighs 1.4 kg and runs eight hours on one battery.</p>
<p>Kiri-2 ships in November 2025 at a list price of EUR 18,500. Early customers include two European rail
operators.</p>
<table><tr><th>Model</th><th>Weight</th><th>Battery</th></tr>
<tr><td>Kiri-1</td><td>2.1 kg</td><td>5 h</td></tr><tr><td>Kiri-2</td><td>1.4 kg</td><td>8 h</td></tr></table>
</article><script>console.log("not text");</script></body></html>
"""

HANDBOOK = f"""# {COMPANY} employee handbook: working hours and leave

## Working hours
Core hours are 10:00 to 15:00 local time. Outside them, teams agree their own hours.

## Annual leave
Every employee has 27 days of annual leave, plus public holidays. Up to 5 unused days carry over
to the next year and expire on 31 March.

## Parental leave
Parents get 20 weeks of paid parental leave, to be taken within two years of the birth or adoption.
"""


def main(out: Path = OUT) -> None:
    out.mkdir(parents=True, exist_ok=True)
    files = {f"kestrel_{q.lower()}_2025_report.pdf": report_pdf(q) for q in REVENUE}
    files |= {
        "travel_memo.docx": memo_docx(),
        "kiri2_press_release.html": PRESS_RELEASE.encode(),
        "handbook.md": HANDBOOK.encode(),
    }
    for name, data in files.items():
        (out / name).write_bytes(data)
        print(f"{out / name}: {len(data):,} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
