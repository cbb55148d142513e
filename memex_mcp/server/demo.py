"""`memex-mcp demo`: a scripted session against the real server over stdio.

It prints, side by side, what the model saw (the exact text of each tool result) and what stayed
in the kernel, so the point of the product is visible in ten seconds.
"""

from __future__ import annotations

import shutil
import sys
import textwrap
from typing import Any

import anyio
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult, TextContent

from memex_mcp.server.settings import Settings

#: (tool, arguments, what the step shows). The data is generated in the kernel, seeded.
STEPS: list[tuple[str, dict[str, Any], str]] = [
    ("execute_code", {"code": (
        "import random\nrng = random.Random(7)\nregions = ['north', 'south', 'east', 'west']\n"
        "sales = [(i, rng.choice(regions), round(rng.uniform(5, 500), 2)) for i in range(1_000_000)]\n"
        "north = round(sum(amount for _, region, amount in sales if region == 'north'), 2)\n"
        "print(f'{len(sales):,} sales; north total: {north:,.2f}')"
    )}, "A million rows stay in `sales`; one number is printed."),
    ("execute_code", {"code": "for row in sales[:100_000]:\n    print(row)"},
     "A careless print of 100,000 rows: the reply keeps head and tail."),
    ("execute_code", {"code": "len(history[-1].output), history[-1].output.count('\\n')"},
     "Nothing was lost: the full text is still in the kernel."),
    ("list_scope", {}, "What lives in the kernel, one line each."),
    ("submit", {"variable": "north"}, "The answer is handed in by name, never retyped."),
]


def run_demo(settings: Settings) -> int:
    return anyio.run(_demo, settings)


async def _demo(settings: Settings) -> int:
    limit = min(settings.output_limit, 1200)  # a terminal-sized budget, so the cut is visible
    server = StdioServerParameters(command=sys.executable, args=["-m", "memex_mcp", "--output-limit", str(limit)])
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
    print(f"The model read {seen:,} characters in all; the kernel holds about {kernel_bytes:,} bytes "
          f"of results and output ({kernel_bytes / max(seen, 1):,.0f}× more), one variable name away.")
    return 0


def _text(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


def _short(arguments: dict[str, Any]) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in arguments.items())
    return text if len(text) <= 60 else text[:59] + "…"


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
