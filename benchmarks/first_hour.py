"""Characters a model reads in a scripted "first hour" on the bundled data.

A fixed session, as a model meeting memex-mcp for the first time would run it: it reads the
server's instructions and tool list, orients itself, answers one question from the tables and one
from the documents, makes three mistakes models typically make (a misspelt name, a DuckDB 1 idiom,
a wrong column), looks at its scope and submits a result by name. Every character the model reads
is counted: the instructions, the tool list (descriptions and input schemas), and the text of each
tool result. The script is the same for every version of the server, so the totals of two versions
weigh a change to descriptions, errors or budgets.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.types import CallToolResult, TextContent

from benchmarks.common import settings
from memex_mcp.server import build_server
from memex_mcp.server.demo import example_data

#: (phase, tool, arguments).
SESSION: list[tuple[str, str, dict[str, Any]]] = [
    ("orientation", "execute_code", {"code": "help()"}),
    ("orientation", "execute_code", {"code": "tables()"}),
    ("orientation", "execute_code", {"code": "docs.list()"}),
    (
        "query",
        "execute_code",
        {
            "code": (
                "by_country = sql('''select c.country, count(*) as orders\n"
                "    from orders o join customers c using (customer_id)\n"
                "    group by 1 order by 2 desc''').df()\n"
                "by_country.head(5)"
            )
        },
    ),
    ("document", "execute_code", {"code": "hits = docs.search('Q3 2025 revenue EMEA region', k=3)\nhits"}),
    ("document", "execute_code", {"code": "print(hits[0].text[:600])"}),
    ("mistake: misspelt name", "execute_code", {"code": "by_contry.head()"}),
    ("mistake: DuckDB 1 idiom", "execute_code", {"code": "sql('select count(*) from orders').fetchone()"}),
    ("mistake: wrong column", "execute_code", {"code": "by_country['order_count'].sum()"}),
    ("scope", "list_scope", {}),
    ("submit", "submit", {"variable": "by_country"}),
]


#: The same session as measured before the first-hour changes to replies and errors.
BASELINE = Path(__file__).with_name("first_hour_baseline.json")


def baseline() -> dict[str, Any]:
    return dict(json.loads(BASELINE.read_text()))


def _text(result: CallToolResult) -> int:
    return sum(len(c.text) for c in result.content if isinstance(c, TextContent))


async def run() -> dict[str, Any]:
    phases: dict[str, int] = {}
    server = build_server(settings(data_dirs=(example_data(),)))
    async with Client(server, raise_exceptions=True) as client:
        instructions = client.instructions or ""
        tools = (await client.list_tools()).tools
        listed = sum(len(t.name) + len(t.description or "") + len(json.dumps(t.input_schema)) for t in tools)
        phases["instructions and tool list"] = len(instructions) + listed
        structured = 0
        for phase, tool, arguments in SESSION:
            result = await client.call_tool(tool, arguments)
            phases[phase] = phases.get(phase, 0) + _text(result)
            if result.structured_content is not None:
                structured += len(json.dumps(result.structured_content))
    return {"phases": phases, "calls": len(SESSION), "structured": structured}


def render(result: dict[str, Any], command: str, when: str, before: dict[str, Any] | None = None) -> str:
    phases: dict[str, int] = result["phases"]
    old: dict[str, int] = (before or {}).get("phases", {})
    lines = [
        "## A model's first hour: characters read",
        "",
        f"`{command}`, {when}: a fixed session of {result['calls']} calls on the bundled data "
        "(orientation, a query, a document question, three typical mistakes, list_scope, a submit by "
        "variable), counting every character the model reads: instructions, tool list, result texts. "
        "Deterministic: it does not depend on the machine.",
        "",
        f"| phase | characters | {before['recorded'] if before else ''} |" if old else "| phase | characters |",
        "|---|---:|---:|" if old else "|---|---:|",
    ]
    for phase, chars in phases.items():
        lines.append(f"| {phase} | {chars:,} | {old[phase]:,} |" if old else f"| {phase} | {chars:,} |")
    total = sum(phases.values())
    lines.append(f"| **all** | **{total:,}** | **{sum(old.values()):,}** |" if old else f"| **all** | **{total:,}** |")
    lines += [
        "",
        f"structuredContent sent besides (not read by most clients' models): {result['structured']:,} characters.",
    ]
    return "\n".join(lines)
