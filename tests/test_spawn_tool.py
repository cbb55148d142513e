"""The MCP tool spawn_agent, and sub-agents that think with the client's own model (MCP sampling)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
from conftest import run, settings, text_of
from mcp import Client, types
from mcp.client.session import ClientRequestContext

from memex_mcp.server import build_server

pytestmark = pytest.mark.anyio

# The agents' model, set through the runtime's seam: every agent submits the sum of `numbers`.
SCRIPTED = """\
from memex_mcp.runtime.models import set_default_model
from memex_mcp.runtime.models.scripted import ScriptedModel
set_default_model(ScriptedModel.replies(["```python\\nsubmit(sum(numbers))\\n```"]))
numbers = [1, 2, 3]
"""


@pytest.fixture(scope="module")
async def client(anyio_backend: str) -> AsyncIterator[Client]:
    async with Client(build_server(settings(timeout=60)), raise_exceptions=True) as c:
        assert not (await run(c, SCRIPTED)).is_error
        yield c


async def spawn(client: Client, **arguments: object) -> types.CallToolResult:
    return await client.call_tool("spawn_agent", {"task": "Add up the numbers.", **arguments})


async def test_spawn_agent_returns_the_variable_that_holds_the_handle_and_its_result_is_the_value(
    client: Client,
) -> None:
    with anyio.fail_after(60):
        started = await spawn(client, inputs=["numbers"], output_schema={"type": "integer"})
        assert not started.is_error, text_of(started)
        assert text_of(started).startswith("Started sub-agent 'agent_1'; its handle is in the variable `agent_1`.")
        assert started.structured_content == {"variable": "agent_1"}
        assert text_of(await run(client, "print(agent_1.result(timeout=30))")) == "6"


async def test_default_names_skip_variables_and_agents_in_use_and_a_given_name_is_used(client: Client) -> None:
    with anyio.fail_after(60):
        await run(client, "agent_2 = 'taken'\nunbound = spawn_agent('Add up the numbers.', name='agent_3')")
        assert (await spawn(client)).structured_content == {"variable": "agent_4"}
        assert (await spawn(client, name="adder")).structured_content == {"variable": "adder"}
        assert (
            text_of(await run(client, "print(agent_4.result(timeout=30), adder.result(timeout=30), agent_2)"))
            == "6 6 taken"
        )
        # and a cell's own spawn_agent never reuses a name the tool gave
        names = await run(
            client, "print(sorted(h.name for h in [spawn_agent('Add up the numbers.') for _ in range(5)]))"
        )
        assert not set(eval(text_of(names))) & {"agent_1", "agent_3", "agent_4", "adder"}


async def test_unknown_inputs_are_a_tool_error_that_lists_the_variables_that_exist(client: Client) -> None:
    result = await spawn(client, inputs=["numbers", "nubmers"])
    message = text_of(result)
    assert result.is_error
    assert "inputs names 'nubmers', which is not among your variables. Variables that exist:" in message
    assert "'numbers'" in message


async def test_an_output_schema_that_is_not_json_schema_is_a_tool_error(client: Client) -> None:
    result = await spawn(client, output_schema={"type": "integr"})
    assert result.is_error and "output_schema is not a valid JSON Schema" in text_of(result)


async def test_a_name_that_holds_another_value_is_refused(client: Client) -> None:
    result = await spawn(client, name="numbers")
    assert result.is_error and "The variable 'numbers' already holds a list" in text_of(result)


ASKS = """\
words = ["alpha", "beta", "gamma", "delta"]
h = spawn_agent("How many words are there?", inputs=["words"], returns=int, model="sampling")
print(h.result(timeout=60))
"""


async def test_a_sub_agent_thinks_with_the_clients_model_while_the_parent_cell_waits(anyio_backend: str) -> None:
    prompts: list[types.CreateMessageRequestParams] = []

    async def model(
        context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        prompts.append(params)
        return types.CreateMessageResult(
            role="assistant",
            model="client-model",
            content=types.TextContent(type="text", text="I count them in code.\n```python\nsubmit(len(words))\n```"),
        )

    async with Client(
        build_server(settings(timeout=60)), raise_exceptions=True, mode="legacy", sampling_callback=model
    ) as client:
        with anyio.fail_after(60):
            result = await run(client, ASKS)
    assert text_of(result) == "4"
    assert prompts and "How many words are there?" in str(prompts[0].messages[0].content)
    assert prompts[0].system_prompt


async def test_the_spawn_agent_tool_uses_sampling_when_the_server_is_told_to(anyio_backend: str) -> None:
    async def model(
        context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        return types.CreateMessageResult(
            role="assistant",
            model="client-model",
            content=types.TextContent(type="text", text="```python\nsubmit({'first': words[0]})\n```"),
        )

    async with Client(
        build_server(settings(timeout=60, agent_model="sampling")),
        raise_exceptions=True,
        mode="legacy",
        sampling_callback=model,
    ) as client:
        with anyio.fail_after(60):
            await run(client, "words = ['alpha', 'beta']")
            started = await client.call_tool(
                "spawn_agent",
                {
                    "task": "Return the first word.",
                    "inputs": ["words"],
                    "output_schema": {"type": "object", "properties": {"first": {"type": "string"}}},
                },
            )
            assert started.structured_content == {"variable": "agent_1"}
            assert text_of(await run(client, "agent_1.result(timeout=30)")) == "{'first': 'alpha'}"


async def test_an_agent_on_sampling_with_a_client_without_it_fails_saying_how_to_configure_a_model(
    anyio_backend: str,
) -> None:
    async with Client(
        build_server(settings(timeout=60, agent_model="sampling")), raise_exceptions=True, mode="legacy"
    ) as client:
        with anyio.fail_after(60):
            started = await client.call_tool("spawn_agent", {"task": "Say hi."})
            assert started.structured_content == {"variable": "agent_1"}
            failed = await run(client, "agent_1.result(timeout=30)")
    assert failed.is_error
    assert "AgentFailed" in text_of(failed)
    assert "does not support sampling" in text_of(failed) and "--agent-model openai:<model>" in text_of(failed)
