"""A tiny downstream MCP server for tests/test_downstream.py: `python downstream_server.py [--http PORT]`."""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ImageContent, TextContent

#: A 1×1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)

server = MCPServer("test-downstream")


@server.tool(name="get-weather", description="The weather in a city, as structured content.")
def get_weather(city: str, days: int = 1) -> dict[str, Any]:
    return {"city": city, "days": days, "forecast": ["sun"] * days}


@server.tool(description="Prime numbers below n.")
def primes(n: int) -> list[int]:
    return [p for p in range(2, n) if all(p % d for d in range(2, p))]


@server.tool(description="Sales figures as JSON text.", structured_output=False)
def json_text() -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=json.dumps({"sales": [1, 2, 3]}))])


@server.tool(description="A greeting in plain text.", structured_output=False)
def greet(name: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=f"Hello, {name}!")])


@server.tool(description="A tiny PNG image.", structured_output=False)
def image() -> CallToolResult:
    data = base64.b64encode(PNG).decode()
    return CallToolResult(content=[ImageContent(type="image", data=data, mime_type="image/png")])


@server.tool(description="Always fails.")
def fail(reason: str = "no reason") -> str:
    raise ToolError(f"it failed: {reason}")


@server.tool(description="Echoes its arguments back, after `delay` seconds.", structured_output=False)
def echo(text: str, delay: float = 0.0, count: int | None = None) -> CallToolResult:
    time.sleep(delay)
    return CallToolResult(content=[TextContent(type="text", text=json.dumps({"text": text, "count": count}))])


@server.tool(description="The server's process id.")
def pid() -> int:
    return os.getpid()


@server.tool(description="Exits the server's process, as a crash would.")
def crash() -> str:
    print("crashing on purpose", file=sys.stderr, flush=True)
    os._exit(3)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--http"]:  # python downstream_server.py --http PORT: streamable HTTP at /mcp
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run("stdio")
