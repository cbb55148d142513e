"""The `sampling` model: kernel code asks the MCP client's own model, through the server."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import anyio
import pytest
from conftest import run, settings, text_of
from mcp import Client, StdioServerParameters, types
from mcp.client.session import ClientRequestContext

from memex_mcp.server import build_server

pytestmark = pytest.mark.anyio

COMPLETE = """\
from memex_mcp.runtime.models.base import Message, ModelError, Request
from memex_mcp.runtime.models.sampling import SamplingModel, sampling_available
try:
    reply = SamplingModel().complete(Request([Message("system", "Be brief."), Message("user", "Say hi.")],
                                            max_tokens=50))
    print(repr(reply.text), reply.input_tokens, reply.output_tokens)
except ModelError as exc:
    print("ModelError:", exc)
print("available:", sampling_available())
"""

seen: list[types.CreateMessageRequestParams] = []


async def answer(context: ClientRequestContext, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    seen.append(params)
    return types.CreateMessageResult(
        role="assistant",
        content=types.TextContent(type="text", text="hi from the client"),
        model="client-model",
        _meta={"usage": {"inputTokens": 12, "outputTokens": 4}},
    )


@pytest.fixture(scope="module")
async def sampling_client(anyio_backend: str) -> AsyncIterator[Client]:
    server = build_server(settings(timeout=60))
    async with Client(server, raise_exceptions=True, mode="legacy", sampling_callback=answer) as c:
        yield c


async def test_kernel_code_gets_a_completion_from_the_clients_model(sampling_client: Client) -> None:
    seen.clear()
    with anyio.fail_after(60):
        result = await run(sampling_client, COMPLETE)
    assert text_of(result) == "'hi from the client' 12 4\navailable: True"
    [params] = seen
    assert params.system_prompt == "Be brief."
    assert params.max_tokens == 50
    assert [(m.role, m.content) for m in params.messages] == [("user", types.TextContent(type="text", text="Say hi."))]


async def test_a_client_without_sampling_gets_an_error_that_says_how_to_configure_a_model(
    anyio_backend: str,
) -> None:
    async with Client(build_server(settings()), raise_exceptions=True, mode="legacy") as client:
        with anyio.fail_after(60):
            text = text_of(await run(client, COMPLETE))
    assert text.startswith(
        "ModelError: The sampling model cannot answer: The MCP client (mcp) does not support "
        "sampling (it did not declare the capability)."
    )
    assert "--agent-model openai:<model>" in text and "anthropic:<model>" in text
    assert text.endswith("available: False")


async def test_a_client_on_the_2026_revision_has_no_sampling_even_with_a_callback(anyio_backend: str) -> None:
    async with Client(build_server(settings()), raise_exceptions=True, sampling_callback=answer) as client:
        assert client.protocol_version == "2026-07-28"
        with anyio.fail_after(60):
            text = text_of(await run(client, COMPLETE))
    assert "speaks MCP 2026-07-28, where sampling is deprecated" in text
    assert text.endswith("available: False")


async def test_a_refusal_by_the_client_reaches_kernel_code_as_a_model_error_with_its_message(
    anyio_backend: str,
) -> None:
    async def refuse(context: ClientRequestContext, params: types.CreateMessageRequestParams) -> types.ErrorData:
        return types.ErrorData(code=types.INVALID_REQUEST, message="the user declined this request")

    async with Client(
        build_server(settings()), raise_exceptions=True, mode="legacy", sampling_callback=refuse
    ) as client:
        with anyio.fail_after(60):
            text = text_of(await run(client, COMPLETE))
    assert text.startswith(
        "ModelError: The sampling model cannot answer: The MCP client (mcp) refused the "
        "sampling request: the user declined this request."
    )
    assert "--agent-model" in text


async def test_a_replacement_kernel_reaches_the_server_too(sampling_client: Client) -> None:
    with anyio.fail_after(60):
        assert "available: True" in text_of(await run(sampling_client, COMPLETE))
        pid = text_of(await run(sampling_client, "import os\nos.getpid()"))
        await run(sampling_client, "import os\nos.kill(os.getpid(), 9)")
        # The result may begin with a note that the kernel died: the pid is the last line.
        assert text_of(await run(sampling_client, "import os\nos.getpid()")).splitlines()[-1] != pid
        assert text_of(await run(sampling_client, COMPLETE)) == "'hi from the client' 12 4\navailable: True"


async def test_over_stdio_the_kernel_started_before_the_sdk_loads_reaches_the_server(anyio_backend: str) -> None:
    server = StdioServerParameters(command=sys.executable, args=["-m", "memex_mcp"])
    with anyio.fail_after(60):
        async with Client(server, mode="legacy", sampling_callback=answer) as client:
            assert text_of(await run(client, COMPLETE)) == "'hi from the client' 12 4\navailable: True"


TIMES_OUT = """\
from memex_mcp.runtime.models.base import Message, ModelError, Request
from memex_mcp.runtime.models.sampling import SamplingModel
try:
    SamplingModel(timeout=0.5).complete(Request([Message("user", "Think forever.")]))
except ModelError as exc:
    print(exc)
"""


async def test_a_request_that_times_out_is_withdrawn_from_the_client(anyio_backend: str) -> None:
    cancelled = anyio.Event()

    async def never(context: ClientRequestContext, params: types.CreateMessageRequestParams) -> types.ErrorData:
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()
        raise AssertionError("unreachable")

    async with Client(
        build_server(settings()), raise_exceptions=True, mode="legacy", sampling_callback=never
    ) as client:
        with anyio.fail_after(60):
            assert text_of(await run(client, TIMES_OUT)) == (
                "The sampling model cannot answer: The server did not answer sampling.create within 0.5 s."
            )
            await cancelled.wait()


async def test_cancelling_an_agent_that_waits_for_the_clients_model_withdraws_its_request(
    anyio_backend: str,
) -> None:
    asked, cancelled = anyio.Event(), anyio.Event()

    async def never(context: ClientRequestContext, params: types.CreateMessageRequestParams) -> types.ErrorData:
        asked.set()
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()
        raise AssertionError("unreachable")

    stop = (
        "import threading\nthread = next(t for t in threading.enumerate() if t.name == 'memex-agent-thinker')\n"
        "print(thinker.cancel(), thinker.status)\nthread.join(10)\nprint(thread.is_alive())"
    )
    async with Client(
        build_server(settings()), raise_exceptions=True, mode="legacy", sampling_callback=never
    ) as client:
        with anyio.fail_after(60):
            started = await run(client, "thinker = spawn_agent('Think', name='thinker', model='sampling')")
            assert not started.is_error, text_of(started)
            await asked.wait()
            assert text_of(await run(client, stop)) == "True cancelled\nFalse"
            await cancelled.wait()


AUTO = """\
import os
from memex_mcp.runtime.models import resolve
for key in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
    os.environ.pop(key, None)
print(type(resolve("auto")).__name__)
os.environ["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"
print(resolve("auto").name.split(":")[0])
del os.environ["OPENAI_BASE_URL"]
"""


async def test_auto_falls_back_to_sampling_when_no_provider_is_configured_and_the_client_declares_it(
    sampling_client: Client,
) -> None:
    with anyio.fail_after(60):
        text = text_of(await run(sampling_client, AUTO))
    assert text == "SamplingModel\nopenai"  # a configured provider still comes first
