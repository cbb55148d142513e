"""The tool list, which every model call of every client sends again: input schemas without titles or
null alternatives, descriptions and instructions within a budget, and arguments taken as before."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import run, settings, text_of
from mcp import Client
from test_spawn_tool import SCRIPTED

from memex_mcp.server import build_server

pytestmark = pytest.mark.anyio

EXAMPLES = Path(__file__).parent.parent / "examples" / "data"
#: Characters of the instructions, the four descriptions and their input schemas (JSON) on the bundled
#: data; about 4,700 when the SDK's default schemas and longer descriptions were advertised.
BUDGET = 3_300


@pytest.fixture(scope="module")
async def client(anyio_backend: str) -> AsyncIterator[Client]:
    async with Client(build_server(settings(data_dirs=(EXAMPLES,), timeout=60)), raise_exceptions=True) as c:
        assert not (await run(c, SCRIPTED)).is_error
        yield c


def pairs(node: Any) -> Iterator[tuple[str, Any]]:
    """Every key of every object in a JSON value, with its value."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from pairs(value)
    elif isinstance(node, list):
        for item in node:
            yield from pairs(item)


async def test_the_input_schemas_have_no_titles_and_optional_arguments_have_their_plain_type(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    for tool in tools.values():
        keys = [key for key, _ in pairs(tool.input_schema)]
        assert "title" not in keys and "anyOf" not in keys, tool.name
        assert not any(key == "default" and value is None for key, value in pairs(tool.input_schema)), tool.name
    execute_code = tools["execute_code"].input_schema
    assert execute_code["required"] == ["code"]
    assert {k: v for k, v in execute_code["properties"]["timeout"].items() if k != "description"} == {"type": "number"}
    assert execute_code["properties"]["interrupt"]["default"] is False
    inputs = tools["spawn_agent"].input_schema["properties"]["inputs"]
    assert (inputs["type"], inputs["items"]) == ("array", {"type": "string"})
    assert tools["submit"].input_schema["properties"]["schema"]["type"] == "object"
    assert set(tools["submit"].input_schema["properties"]["value"]) == {"description"}  # any JSON value


async def test_the_instructions_and_tool_list_stay_within_their_budget(client: Client) -> None:
    tools = (await client.list_tools()).tools
    size = len(client.instructions or "") + sum(
        len(t.description or "") + len(json.dumps(t.input_schema)) for t in tools
    )
    assert size <= BUDGET


async def test_an_explicit_null_for_an_optional_argument_means_leaving_it_out(client: Client) -> None:
    with anyio.fail_after(60):
        executed = await client.call_tool("execute_code", {"code": "print(sum(numbers))", "timeout": None})
        assert (text_of(executed), executed.is_error) == ("6", False)
        listed = await client.call_tool("list_scope", {"pattern": None})
        assert not listed.is_error and "numbers" in text_of(listed)
        spawned = await client.call_tool(
            "spawn_agent", {"task": "Add up the numbers.", "inputs": None, "output_schema": None, "name": None}
        )
        assert spawned.structured_content == {"variable": "agent_1"}, text_of(spawned)
        assert text_of(await run(client, "print(agent_1.result(timeout=30))")) == "6"
        by_value = await client.call_tool("submit", {"value": [1, 2], "variable": None, "schema": None})
        by_variable = await client.call_tool("submit", {"value": None, "variable": "numbers", "schema": None})
        assert not by_value.is_error and not by_variable.is_error, text_of(by_variable)
        assert text_of(await run(client, "submissions[-2:]")) == "[[1, 2], [1, 2, 3]]"


async def test_an_unknown_argument_is_still_refused_with_the_arguments_the_tool_takes(client: Client) -> None:
    result = await client.call_tool("execute_code", {"code": "refused = 1", "timeot": 5})
    assert result.is_error
    assert text_of(result).startswith(
        "execute_code has no argument 'timeot'; nothing was done. Its arguments are `code` (Python source, "
        "as in a notebook cell); `timeout` (Seconds from its start until the code is interrupted); `interrupt`"
    )
    assert text_of(await run(client, "print('refused' in dir())")) == "False"
