"""list_scope and submit through a real MCP client."""

from __future__ import annotations

import json

import pytest
from conftest import run, settings, text_of
from mcp import Client

pytestmark = pytest.mark.anyio


async def test_list_scope_shows_user_variables_and_hides_the_prelude(client: Client) -> None:
    await run(
        client,
        "import os\nrows = list(range(1000))\nname = 'memex'\n_private = 1\n"
        "def total(xs):\n    'Sum of xs.'\n    return sum(xs)",
    )
    result = await client.call_tool("list_scope", {})
    assert not result.is_error
    entries = {e["name"]: e for e in result.structured_content["variables"]}
    assert set(entries) >= {"rows", "name", "total"}
    assert not {"os", "_private", "history", "submit", "help", "_outputs", "In", "Out"} & set(entries)
    assert entries["rows"]["type"] == "list"
    assert entries["rows"]["summary"].startswith("len 1,000: [0, 1, 2, 3, 4, 5, 6, 7, ...]")
    assert entries["rows"]["size_bytes"] > 8000
    assert entries["total"]["summary"] == "total(xs): Sum of xs."
    lines = text_of(result).splitlines()
    assert any(line.startswith("rows") and "list" in line and "len 1,000" in line for line in lines)
    assert all(len(line) < 160 for line in lines)


async def test_list_scope_filters_by_glob_and_previews_are_short(client: Client) -> None:
    await run(client, "sales_2024 = 'x' * 1_000_000\nsales_2025 = {'q1': 1}\ncosts = 3")
    result = await client.call_tool("list_scope", {"pattern": "sales_*"})
    names = [e["name"] for e in result.structured_content["variables"]]
    assert names == ["sales_2024", "sales_2025"]
    big = result.structured_content["variables"][0]
    assert big["summary"].startswith("len 1,000,000: 'xxx")
    assert len(big["summary"]) <= 100


async def test_list_scope_is_marked_read_only(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert tools["list_scope"].annotations is not None
    assert tools["list_scope"].annotations.read_only_hint is True
    assert tools["list_scope"].output_schema is not None
    assert set(tools) == {"execute_code", "list_scope", "spawn_agent", "submit"}


async def test_submit_a_value_returns_it_and_records_it_in_submissions(client: Client) -> None:
    result = await client.call_tool("submit", {"value": {"answer": 42, "unit": "EUR"}})
    assert not result.is_error
    assert result.structured_content == {"answer": 42, "unit": "EUR"}
    assert text_of(result).endswith(
        'an object with 2 keys, 26 B of JSON, no schema to check it against.\nAnswer: {"answer":42,"unit":"EUR"}'
    )
    assert text_of(await run(client, "submissions[-1]")) == "{'answer': 42, 'unit': 'EUR'}"


async def test_submit_a_variable_sends_its_value_without_retyping(client: Client) -> None:
    await run(
        client,
        "import dataclasses\n@dataclasses.dataclass\nclass Row:\n    k: str\n    v: float\n"
        "answer_rows = [Row('a', 1.5), Row('b', 2.0)]",
    )
    result = await client.call_tool("submit", {"variable": "answer_rows"})
    assert result.structured_content == {"result": [{"k": "a", "v": 1.5}, {"k": "b", "v": 2.0}]}


async def test_submit_validates_against_a_schema_and_says_what_to_fix(client: Client) -> None:
    schema = {"type": "object", "required": ["total"], "properties": {"total": {"type": "number"}}}
    bad = await client.call_tool("submit", {"value": {"total": "12"}, "schema": schema})
    assert bad.is_error
    assert "at $.total: '12' is not of type 'number'" in text_of(bad)
    before = text_of(await run(client, "len(submissions)"))
    good = await client.call_tool("submit", {"value": {"total": 12}, "schema": schema})
    assert not good.is_error
    assert text_of(await run(client, "len(submissions)")) == str(int(before) + 1)


async def test_submit_errors_are_clear(client: Client) -> None:
    missing = await client.call_tool("submit", {"variable": "no_such_thing"})
    assert missing.is_error and "no variable 'no_such_thing'" in text_of(missing)
    both = await client.call_tool("submit", {"value": 1, "variable": "x"})
    assert both.is_error and "either `value` or `variable`" in text_of(both)
    await run(client, "import threading\nlock = threading.Lock()")
    unserializable = await client.call_tool("submit", {"variable": "lock"})
    assert unserializable.is_error and "no JSON form" in text_of(unserializable)
    bad_schema = await client.call_tool("submit", {"value": 1, "schema": {"type": "nonsense"}})
    assert bad_schema.is_error and "schema itself is invalid" in text_of(bad_schema)


async def test_submit_in_code_records_a_submission(client: Client) -> None:
    result = await run(client, "submit({'from': 'code'})\nsubmissions[-1]")
    assert text_of(result).endswith("{'from': 'code'}")


async def test_spawn_agent_is_listed_with_its_schema_and_says_how_to_configure_a_model(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools["spawn_agent"].input_schema["properties"]) == {"task", "inputs", "output_schema", "name"}
    result = await client.call_tool("spawn_agent", {"task": "count the rows"})
    assert result.is_error and "No model is configured for sub-agents" in text_of(result)
    assert "--agent-model openai:<model>" in text_of(result)


async def test_the_servers_answer_schema_applies_to_every_submission_and_submit_says_so(anyio_backend: str) -> None:
    from memex_mcp.server import build_server

    schema = {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}
    async with Client(build_server(settings(answer_schema=schema)), raise_exceptions=True) as own:
        described = {t.name: t.description or "" for t in (await own.list_tools()).tools}["submit"]
        assert "checked against `schema`, else the server's answer schema: a mismatch" in described
        bad = await own.call_tool("submit", {"value": {"town": "Oslo"}})
        assert bad.is_error and "'city' is a required property" in text_of(bad)
        in_code = await run(own, "submit({'town': 'Oslo'})")
        assert in_code.is_error and "SubmitError: The answer does not match the schema" in text_of(in_code)
        good = await own.call_tool("submit", {"value": {"city": "Oslo"}})
        assert good.structured_content == {"city": "Oslo"}


PRELUDE = [
    "db",
    "sql",
    "tables",
    "docs",
    "read_document",
    "tools",
    "spawn_agent",
    "gather",
    "AgentFailed",
    "submit",
    "submissions",
    "history",
    "_outputs",
    "help",
    "memex_help",
]


async def test_list_scope_leaves_out_every_preloaded_name_and_gives_the_documented_fields(client: Client) -> None:
    defined = text_of(await run(client, f"print(all(n in globals() for n in {PRELUDE!r}))"))
    assert defined == "True"  # they exist, so leaving them out is list_scope's doing
    await run(client, "import json as codec\nfrom math import pi\nsmall = [1, 2]")
    result = await client.call_tool("list_scope", {})
    assert set(result.structured_content) == {"variables", "agents"}
    entries = result.structured_content["variables"]
    names = {e["name"] for e in entries}
    assert "small" in names and "pi" in names
    assert not set(PRELUDE) & names and "codec" not in names
    assert all(set(e) == {"name", "type", "summary", "size_bytes"} for e in entries)
    listed = {line.split()[0] for line in text_of(result).splitlines() if line.strip()}
    assert not set(PRELUDE) & listed


async def test_a_submitted_value_that_is_not_an_object_comes_back_under_result_and_as_its_json(
    client: Client,
) -> None:
    values: list[object] = [[1, "two", None], "plain text", 3.5, False]
    for value in values:
        result = await client.call_tool("submit", {"value": value})
        assert not result.is_error
        assert result.structured_content == {"result": value}
        assert text_of(result).endswith("\nAnswer: " + json.dumps(value, separators=(",", ":")))
    assert text_of(await run(client, "submissions[-4:]")) == repr(values)


async def test_the_four_tools_take_exactly_the_documented_arguments_and_each_is_described(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    documented = {
        "execute_code": ({"code", "timeout", "interrupt"}, ["code"]),
        "list_scope": ({"pattern"}, []),
        "spawn_agent": ({"task", "inputs", "output_schema", "name"}, ["task"]),
        "submit": ({"value", "variable", "schema"}, []),
    }
    assert tools["execute_code"].input_schema["properties"]["interrupt"]["default"] is False
    for name, (arguments, required) in documented.items():
        schema = tools[name].input_schema
        assert set(schema["properties"]) == arguments, name
        assert schema.get("required", []) == required, name
        optional = arguments - set(required) - {"interrupt"}
        assert all("default" not in schema["properties"][a] for a in optional), name  # absent means None
        assert len(tools[name].description or "") > 100, name
    assert "checked against `schema` if given" in (tools["submit"].description or "")
