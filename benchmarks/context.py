"""Characters that reach the model for the demo's two questions: memex-mcp against tool-calling
baselines that return the query result or the document text, as most SQL and file MCP servers do.

Both sides run in process with the SDK's client, on the bundled example data. What is counted is
the text of the tool results, which rides along in every later turn of the model's context.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, TextContent

from memex_mcp.server import Settings, build_server
from memex_mcp.server.demo import DOCUMENT_QUESTION, SQL_QUESTION, example_data

DATA = example_data()
#: The demo's SQL question as one query, for a tool that takes SQL.
QUERY = SQL_QUESTION.split('"""')[1]
AGGREGATE = f"select round(sum(revenue)) from ({QUERY})"
DOCUMENT = "kestrel_q3_2025_report.pdf"


def baseline_server() -> MCPServer:
    """The usual tools: a query returns its rows as text; a document read returns its text."""
    import duckdb
    import pypdfium2  # type: ignore[import-untyped]

    server = MCPServer("baseline")
    db = duckdb.connect()
    for name, reader in (
        ("customers", "read_csv"),
        ("products", "read_json"),
        ("orders", "read_parquet"),
        ("order_lines", "read_parquet"),
    ):
        path = next(DATA.glob(f"{name}.*"))
        db.execute(f"create view {name} as select * from {reader}('{path}')")

    @server.tool()
    def query(sql: str) -> str:
        """Run SQL; returns the rows as text, one line each, columns tab-separated."""
        relation = db.sql(sql)
        lines = ["\t".join(relation.columns)]
        lines += ["\t".join(map(str, row)) for row in relation.fetchall()]
        return "\n".join(lines)

    @server.tool()
    def read_document(name: str) -> str:
        """The text of a document, page by page."""
        pdf = pypdfium2.PdfDocument(DATA / "docs" / name)
        return "\n\n".join(
            f"--- page {i + 1} ---\n{page.get_textpage().get_text_range()}" for i, page in enumerate(pdf)
        )

    return server


def _chars(result: CallToolResult) -> int:
    return sum(len(c.text) for c in result.content if isinstance(c, TextContent))


async def run() -> dict[str, Any]:
    rows: dict[str, dict[str, int]] = {}
    settings = Settings(state_dir=Path(tempfile.mkdtemp(prefix="memex-bench-")), data_dirs=(DATA,))
    async with Client(build_server(settings), raise_exceptions=True) as memex:
        sql = await memex.call_tool("execute_code", {"code": SQL_QUESTION})
        doc = await memex.call_tool("execute_code", {"code": DOCUMENT_QUESTION})
        rows["memex-mcp: execute_code, the result kept in a variable"] = {
            "sql": _chars(sql),
            "document": _chars(doc),
            "code": len(SQL_QUESTION) + len(DOCUMENT_QUESTION),
        }
    async with Client(baseline_server(), raise_exceptions=True) as baseline:
        everything = await baseline.call_tool("query", {"sql": QUERY})
        total = await baseline.call_tool("query", {"sql": AGGREGATE})
        text = await baseline.call_tool("read_document", {"name": DOCUMENT})
        rows["baseline: the query's rows as text, the document's text"] = {
            "sql": _chars(everything),
            "document": _chars(text),
            "code": len(QUERY) + len(DOCUMENT),
        }
        rows["baseline: an aggregate-only query (nothing kept for follow-ups)"] = {
            "sql": _chars(total),
            "document": _chars(text),
            "code": len(AGGREGATE) + len(DOCUMENT),
        }
    return {"rows": rows}


def render(result: dict[str, Any], command: str, when: str) -> str:
    rows: dict[str, dict[str, int]] = result["rows"]
    memex = next(iter(rows.values()))
    lines = [
        "## Characters that reach the model: the demo's two questions",
        "",
        f"`{command}`, {when}: the demo's SQL question (revenue over the 1,000,099 order lines of the "
        "bundled tables) and document question (Q3 2025 EMEA revenue, from the bundled reports), as "
        "characters of tool-result text. Deterministic: it does not depend on the machine.",
        "",
        "| tools | SQL question | document question | both | ratio to memex | characters the model wrote |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    both_memex = memex["sql"] + memex["document"]
    for label, r in rows.items():
        both = r["sql"] + r["document"]
        lines.append(
            f"| {label} | {r['sql']:,} | {r['document']:,} | {both:,} | {both / both_memex:,.1f}× | {r['code']:,} |"
        )
    lines += [
        "",
        "The full-result baseline is what an SQL tool returns for the same query; memex keeps those rows "
        "in `lines` for the next question instead. A model can also ask a baseline SQL tool for the "
        "aggregate alone, which is as short, but then has nothing to work on next. For the document, "
        "the baseline returns the whole report (it is told which one); memex prints one search hit and "
        "keeps the page in `hit.text`.",
    ]
    return "\n".join(lines)
