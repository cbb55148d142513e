"""`memex-mcp demo`: a scripted session against the real server over stdio, on the bundled data.

It prints, side by side, what the model saw (the exact text of each tool result) and what stayed
in the kernel, so the point of the product is visible in ten seconds. The data (a retail
warehouse of five tables and a folder of company reports) ships with the package; see
`examples/make_tables.py` and `examples/make_documents.py`.
"""

from __future__ import annotations

import shutil
import sys
import textwrap
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult, TextContent

from memex_mcp.server.settings import Settings
from memex_mcp.text import shorten

#: The demo's two questions: one over the tables, one over the documents.
SQL_QUESTION = (
    'lines = sql("""\n'
    "    select o.order_date, o.channel, c.country, p.category, l.quantity,\n"
    "           l.quantity * l.unit_price * (1 - l.discount) as revenue\n"
    "    from order_lines l\n"
    "    join orders o using (order_id)\n"
    "    join customers c using (customer_id)\n"
    "    join products p using (sku)\n"
    '""").df()\n'
    "revenue = round(lines.revenue.sum())\n"
    "print(f'{len(lines):,} order lines; revenue {revenue:,}')"
)
DOCUMENT_QUESTION = (
    "hit = docs.search('What was Q3 2025 revenue in the EMEA region?')[0]\nprint(hit)\nprint(hit.context(150))"
)

#: (tool, arguments, what the step shows).
STEPS: list[tuple[str, dict[str, Any], str]] = [
    ("execute_code", {"code": SQL_QUESTION}, "A million-row result stays in `lines`; one number is printed."),
    (
        "execute_code",
        {"code": DOCUMENT_QUESTION},
        "The answer is beside one search hit; its whole page stays in `hit.text`.",
    ),
    (
        "execute_code",
        {"code": "print(lines.head(50_000).to_csv())"},
        "A careless print of 50,000 rows: the reply keeps head and tail.",
    ),
    (
        "execute_code",
        {"code": "len(history[-1].output), history[-1].output.count('\\n')"},
        "Nothing was lost: the full text is still in the kernel.",
    ),
    ("list_scope", {}, "What lives in the kernel, one line each."),
    ("submit", {"variable": "revenue"}, "The answer is handed in by name, never retyped."),
]


def example_data() -> Path:
    """The bundled data: inside an installed package, or in the checkout's examples/."""
    installed = Path(__file__).parent.parent / "example_data"
    return installed if installed.is_dir() else Path(__file__).parents[2] / "examples" / "data"


def run_demo(settings: Settings) -> int:
    return anyio.run(_demo, settings)


async def _demo(settings: Settings) -> int:
    limit = min(settings.output_limit, 1200)  # a terminal-sized budget, so the cut is visible
    args = ["-m", "memex_mcp", "--output-limit", str(limit), "--state-dir", str(settings.state_dir)]
    for data in settings.data_dirs or (example_data(),):
        args += ["--data-dir", str(data)]
    server = StdioServerParameters(command=sys.executable, args=args)
    width = min(shutil.get_terminal_size((100, 24)).columns, 120)
    left = (width - 3) * 3 // 5
    right = width - 3 - left
    seen = 0
    async with Client(server) as client:
        for tool, arguments, caption in STEPS:
            result = await client.call_tool(tool, arguments)
            text = _text(result)
            seen += len(text)
            scope = await client.call_tool("list_scope", {})
            kept = _kernel_lines(scope.structured_content or {})
            print("=" * width)
            print(f"{tool}({_short(arguments)})  — {caption}"[:width])
            print(f"{'the model saw: ' + format(len(text), ',') + ' characters':<{left}} | stayed in the kernel")
            print("-" * width)
            _columns(text, kept, left, right)
        stored = await client.call_tool("execute_code", {"code": "sum(len(o) for o in _outputs.values())"})
        kernel_bytes = _total_bytes(scope.structured_content or {}) + int(_text(stored).replace(",", ""))
    print("=" * width)
    print(
        f"The model read {seen:,} characters in all; the kernel holds about {kernel_bytes:,} bytes "
        f"of results and output ({kernel_bytes / max(seen, 1):,.0f}× more), one variable name away."
    )
    return 0


def _text(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


def _short(arguments: dict[str, Any]) -> str:
    return shorten(", ".join(f"{k}={v!r}" for k, v in arguments.items()), 60)


def _kernel_lines(listing: dict[str, Any]) -> list[str]:
    return [
        f"{v['name']}: {v['type']}" + (f", {v['size_bytes']:,} bytes" if v.get("size_bytes") else "")
        for v in listing.get("variables", [])
    ]


def _total_bytes(listing: dict[str, Any]) -> int:
    return sum(v.get("size_bytes") or 0 for v in listing.get("variables", []))


def _columns(text: str, kept: list[str], left: int, right: int) -> None:
    lines = text.splitlines()
    if len(lines) > 24:  # the terminal shows the shape of a long reply, the count above its size
        markers = [line for line in lines if line.startswith("[…")]
        lines = [*lines[:8], "  ⋮", *markers, "  ⋮", *lines[-8:]]
    wrapped = [piece for line in lines for piece in (textwrap.wrap(line, left) or [""])]
    kept = [piece for line in kept for piece in textwrap.wrap(line, right)]
    for i in range(max(len(wrapped), len(kept))):
        a = wrapped[i] if i < len(wrapped) else ""
        b = kept[i] if i < len(kept) else ""
        print(f"{a:<{left}} | {b}")
