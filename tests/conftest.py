from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from mcp import Client
from mcp.types import CallToolResult, TextContent

from memex_mcp.server import Settings, build_server


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def client(anyio_backend: str) -> AsyncIterator[Client]:
    """One server and kernel per test module: starting a kernel costs about half a second."""
    settings = Settings(timeout=30, interrupt_grace=2, output_limit=2000)
    async with Client(build_server(settings), raise_exceptions=True) as c:
        yield c


def text_of(result: CallToolResult) -> str:
    first = result.content[0]
    assert isinstance(first, TextContent)
    return first.text


async def run(client: Client, code: str, **arguments: object) -> CallToolResult:
    return await client.call_tool("execute_code", {"code": code, **arguments})
