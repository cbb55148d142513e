"""Drive a memex-mcp session with the MCP SDK's client and print what the model would see.

python examples/client.py
"""

from __future__ import annotations

import sys

import anyio
from mcp import Client, StdioServerParameters
from mcp.types import TextContent

CALLS = [
    ("execute_code", {"code": "squares = [n * n for n in range(1_000_000)]\nlen(squares)"}),
    ("execute_code", {"code": "print(sum(squares) % 1_000_007)\nsquares[-3:]"}),
    ("execute_code", {"code": "1 / 0"}),
    ("list_scope", {}),
    ("submit", {"value": {"answer": "done"}}),
]


async def main() -> None:
    server = StdioServerParameters(command=sys.executable, args=["-m", "memex_mcp"])
    async with Client(server) as client:
        print("tools:", ", ".join(tool.name for tool in (await client.list_tools()).tools))
        for name, arguments in CALLS:
            result = await client.call_tool(name, arguments)
            text = "\n".join(c.text for c in result.content if isinstance(c, TextContent))
            flag = " (isError)" if result.is_error else ""
            print(f"\n>>> {name}({arguments}){flag}\n{text}")


if __name__ == "__main__":
    anyio.run(main)
