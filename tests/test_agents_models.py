"""Model providers for sub-agents: the openai provider end to end against a real loopback HTTP
server speaking /v1/chat/completions, the guard that keeps tests off real models, and `auto`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from agent_helpers import cell
from conftest import settings
from loopback import JsonHandler, JsonServer, serving
from mcp import Client

from memex_mcp.server import build_server

pytestmark = pytest.mark.anyio


class ChatServer(JsonServer):
    """A tiny server speaking OpenAI's chat completions and Anthropic's messages API: turn 1 runs
    code, turn 2 submits what it printed."""

    def __init__(self) -> None:
        super().__init__(ChatHandler)
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []

    @property
    def url(self) -> str:
        return self.root + "/v1"


class ChatHandler(JsonHandler):
    server: ChatServer

    def do_POST(self) -> None:
        body = self.read_json()
        self.server.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
        turn = sum(1 for m in body["messages"] if m["role"] == "assistant") + 1
        text = (
            "```python\nprint(sum(numbers))\n```" if turn == 1 else ("```python\nsubmit(int(history[-1].output))\n```")
        )
        reply: dict[str, Any]
        if self.path == "/v1/chat/completions":
            reply = {
                "id": f"chatcmpl-{turn}",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": 100 * turn, "completion_tokens": 7, "total_tokens": 100 * turn + 7},
            }
        elif self.path == "/v1/messages":
            reply = {
                "id": f"msg_{turn}",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 100 * turn, "output_tokens": 7},
            }
        else:
            self.send_error(404)
            return
        self.send_json(reply)


@pytest.fixture
def chat_server() -> Iterator[ChatServer]:
    with serving(ChatServer()) as server:
        yield server


@pytest.fixture
async def own_client(anyio_backend: str) -> AsyncIterator[Client]:
    """A kernel of its own: these tests change its environment."""
    async with Client(build_server(settings(timeout=60)), raise_exceptions=True) as client:
        yield client


async def test_the_openai_provider_drives_an_agent_through_a_compatible_server(
    own_client: Client, chat_server: ChatServer
) -> None:
    code = r"""
import os
os.environ["MEMEX_ALLOW_MODEL_REQUESTS"] = "1"  # this test opts in to real requests
os.environ["OPENAI_BASE_URL"] = LOOPBACK_URL
os.environ["OPENAI_API_KEY"] = "sk-loopback"
numbers = [20, 22]
h = spawn_agent("Add up the numbers", inputs=["numbers"], returns=int, model="openai:tiny-test")
print(h.result(timeout=30), h.usage.model_calls, h.usage.input_tokens, h.usage.output_tokens)
""".replace("LOOPBACK_URL", repr(chat_server.url))
    assert await cell(own_client, code) == "42 2 300 14"
    headers, first = chat_server.requests[0]
    assert headers["authorization"] == "Bearer sk-loopback"
    assert first["model"] == "tiny-test"
    roles = [m["role"] for m in first["messages"]]
    assert roles == ["system", "user"]
    assert "numbers: list" in first["messages"][0]["content"]
    assert "Add up the numbers" in first["messages"][1]["content"]
    _, second = chat_server.requests[1]
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "user"]
    assert second["messages"][3]["content"] == "42\n"


async def test_the_anthropic_provider_sends_the_system_prompt_apart(
    own_client: Client, chat_server: ChatServer
) -> None:
    code = r"""
import os
os.environ["MEMEX_ALLOW_MODEL_REQUESTS"] = "1"  # this test opts in to real requests
os.environ["ANTHROPIC_BASE_URL"] = LOOPBACK_ROOT
os.environ["ANTHROPIC_API_KEY"] = "sk-ant-loopback"
numbers = [40, 2]
h = spawn_agent("Add up the numbers", inputs=["numbers"], returns=int, model="anthropic:claude-test")
print(h.result(timeout=30), h.usage.model_calls, h.usage.input_tokens, h.usage.output_tokens)
""".replace("LOOPBACK_ROOT", repr(chat_server.root))
    assert await cell(own_client, code) == "42 2 300 14"
    headers, first = chat_server.requests[0]
    # Older SDKs send the key as x-api-key, newer ones as a bearer token.
    assert "sk-ant-loopback" in headers.get("x-api-key", "") + headers.get("authorization", "")
    assert first["model"] == "claude-test" and first["max_tokens"] == 4096
    assert "numbers: list" in first["system"]
    assert [m["role"] for m in first["messages"]] == ["user"]
    _, second = chat_server.requests[1]
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "user"]


async def test_auto_picks_the_provider_the_environment_configures(own_client: Client) -> None:
    code = r"""
import os
from memex_mcp.runtime.models import resolve, ModelError
for key in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
    os.environ.pop(key, None)
try:
    resolve("auto")
except ModelError as exc:
    print(exc)
try:
    spawn_agent("Anything")
except ModelError as exc:
    print("spawn:", str(exc)[:40])
os.environ["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"
os.environ["MEMEX_OPENAI_MODEL"] = "local-model"
print(resolve("auto").name)
os.environ["ANTHROPIC_API_KEY"] = "sk-ant-test"
print(resolve("auto").name)
try:
    resolve("bogus:thing")
except ModelError as exc:
    print(exc)
"""
    lines = (await cell(own_client, code)).splitlines()
    assert lines[0].startswith("No model is configured for sub-agents, so no sub-agent can start. Do this work")
    assert lines[1] == "spawn: No model is configured for sub-agents, s"
    assert lines[2:4] == ["openai:local-model", "anthropic:claude-sonnet-4-5"]
    assert lines[4].startswith("Unknown model 'bogus:thing'")


async def test_real_model_requests_fail_in_tests_unless_a_test_opts_in(own_client: Client) -> None:
    code = r"""
import os
os.environ["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"
h = spawn_agent("Anything", model="openai:gpt-test")
try:
    h.result(timeout=20)
except Exception as exc:
    print(type(exc).__name__, exc)
"""
    text = await cell(own_client, code)
    assert text.startswith("AgentFailed agent_1 failed: the model failed: Real model requests are switched off")
    assert "MEMEX_ALLOW_MODEL_REQUESTS=0" in text


async def test_a_missing_provider_package_names_the_extra_to_install(own_client: Client) -> None:
    code = r"""
import os, sys
from memex_mcp.runtime.models import resolve, Request, Message, ModelError
os.environ["MEMEX_ALLOW_MODEL_REQUESTS"] = "1"
for package in ("openai", "anthropic"):
    saved = sys.modules.get(package)
    sys.modules[package] = None  # as if it were not installed
    try:
        resolve(package + ":some-model").complete(Request([Message("user", "hi")]))
    except ModelError as exc:
        print(exc)
    finally:
        sys.modules[package] = saved
"""
    assert await cell(own_client, code) == (
        "openai:some-model needs the openai package: pip install 'memex-mcp[openai]'\n"
        "anthropic:some-model needs the anthropic package: pip install 'memex-mcp[anthropic]'"
    )
