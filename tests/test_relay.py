"""Sub-agents of a confined kernel: the server calls the model provider for it.

A confined kernel has no network and no API keys, so an `openai:` or `anthropic:` model call goes
over its channel to the server, which makes the request with its own environment."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from agent_helpers import cell
from conftest import settings
from mcp import Client
from test_agents_models import ChatServer, chat_server  # noqa: F401 (a fixture)

from memex_mcp.server import build_server
from memex_mcp.server.sandbox import SandboxUnavailable, choose

pytestmark = pytest.mark.anyio

ADD_UP = """
numbers = [20, 22]
h = spawn_agent("Add up the numbers", inputs=["numbers"], returns=int, model={model!r})
print(h.result(timeout=30), h.usage.model_calls)
"""


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch, chat_server: ChatServer) -> ChatServer:  # noqa: F811
    """The server's environment points at the loopback provider; kernels get none of it."""
    monkeypatch.setenv("MEMEX_ALLOW_MODEL_REQUESTS", "1")
    monkeypatch.setenv("OPENAI_BASE_URL", chat_server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-server-only")
    return chat_server


@pytest.fixture
async def confined(anyio_backend: str, provider: ChatServer) -> AsyncIterator[Client]:
    try:
        choose("landlock")
    except SandboxUnavailable as exc:
        pytest.skip(f"Landlock cannot run here: {exc}")
    async with Client(build_server(settings(timeout=60, sandbox="landlock")), raise_exceptions=True) as client:
        yield client


async def test_a_confined_kernels_agent_reaches_its_provider_through_the_server(
    confined: Client, provider: ChatServer
) -> None:
    assert await cell(confined, ADD_UP.format(model="openai:tiny-test")) == "42 2"
    headers, first = provider.requests[0]
    assert headers["authorization"] == "Bearer sk-server-only"
    assert first["model"] == "tiny-test"


async def test_auto_in_a_confined_kernel_picks_the_servers_provider(confined: Client, provider: ChatServer) -> None:
    assert await cell(confined, "from memex_mcp.runtime.models import resolve\nprint(resolve('auto').name)") == (
        "openai:gpt-4.1-mini"
    )


async def test_a_confined_kernel_has_no_secrets_in_its_environment(confined: Client) -> None:
    assert os.environ["OPENAI_API_KEY"] == "sk-server-only"
    text = await cell(confined, "import os\nprint(sorted(k for k in os.environ if 'KEY' in k or 'TOKEN' in k))")
    assert text == "[]"


async def test_a_provider_the_server_cannot_call_fails_at_spawn_with_what_to_set(
    confined: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    text = await cell(
        confined, "try:\n    spawn_agent('x', model='anthropic:claude-x')\nexcept Exception as e:\n    print(e)"
    )
    assert "anthropic:claude-x needs ANTHROPIC_API_KEY in the server's environment" in text
