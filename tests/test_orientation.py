"""A model learns what it has without asking: the tool descriptions name what is loaded and whether
sub-agents have a model; spawn_agent's errors say what to do next."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from agent_helpers import SETUP, cell
from conftest import run, settings, text_of
from mcp import Client

from memex_mcp.server import build_server
from memex_mcp.server.parquet_footer import counts

pytestmark = pytest.mark.anyio

EXAMPLES = Path(__file__).parent.parent / "examples" / "data"
PROVIDER_KEYS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL")


@pytest.fixture(scope="module")
async def examples(anyio_backend: str) -> AsyncIterator[Client]:
    """The example data, and no provider in the environment (the kernel inherits it at start)."""
    with pytest.MonkeyPatch.context() as env:
        for key in PROVIDER_KEYS:
            env.delenv(key, raising=False)
        async with Client(build_server(settings(data_dirs=(EXAMPLES,), timeout=60)), raise_exceptions=True) as client:
            await cell(client, SETUP)
            yield client


async def descriptions(client: Client) -> dict[str, str]:
    return {tool.name: tool.description or "" for tool in (await client.list_tools()).tools}


async def test_the_execute_code_description_names_the_loaded_tables_and_documents(examples: Client) -> None:
    description = (await descriptions(examples))["execute_code"]
    assert description.endswith(
        "Loaded: 5 tables for sql() (customers 7 cols, order_lines 6 cols, orders 6 cols, products 6 cols, "
        "stores); 6 documents in `docs`."
    )
    assert len(description) < 1000  # every client sends it with every call: it stays a paragraph


async def test_the_instructions_say_how_to_work_and_leave_what_is_loaded_to_the_descriptions(
    examples: Client,
) -> None:
    text = examples.instructions or ""
    assert text.startswith("A persistent Python kernel is your working memory")
    assert "Loaded:" not in text and "sub-agents" not in text


async def test_the_column_counts_said_at_start_are_the_kernels(examples: Client) -> None:
    said = dict(re.findall(r"(\w+) (\d+) cols?", (await descriptions(examples))["execute_code"]))
    kernel = await cell(examples, "print({t.name: len(t.columns) for t in tables()})")
    loaded = eval(kernel)
    assert said and {name: int(columns) for name, columns in said.items()} == {n: loaded[n] for n in said}
    assert set(loaded) == {"customers", "order_lines", "orders", "products", "stores"}


async def test_spawn_agents_description_says_up_front_that_no_model_is_configured(examples: Client) -> None:
    description = (await descriptions(examples))["spawn_agent"]
    assert description.startswith(
        "No model is configured for sub-agents: they work only if your MCP client supports sampling; "
        "otherwise do the work yourself with execute_code. Starts a sub-agent"
    )


async def test_spawn_agents_description_names_the_configured_model(anyio_backend: str) -> None:
    async with Client(build_server(settings(agent_model="openai:tiny-test")), raise_exceptions=True) as client:
        description = (await descriptions(client))["spawn_agent"]
        assert description.startswith("Sub-agents use the model openai:tiny-test. Starts a sub-agent")


async def test_spawning_without_a_model_is_a_tool_error_that_ends_with_the_next_step(examples: Client) -> None:
    result = await examples.call_tool("spawn_agent", {"task": "Count the orders."})
    assert result.is_error
    assert "No model is configured for sub-agents, so no sub-agent can start." in text_of(result)
    assert text_of(result).endswith(
        "Do this work yourself in code with execute_code; or ask the user to configure a provider: start "
        "memex-mcp with --agent-model openai:<model> or anthropic:<model>, or set OPENAI_BASE_URL (an "
        "OpenAI-compatible server) / OPENAI_API_KEY or ANTHROPIC_API_KEY in its environment."
    )


async def test_the_kernels_spawn_agent_takes_output_schema_as_the_tool_does(examples: Client) -> None:
    code = """
h = spawn_agent("Give a number", output_schema={"type": "integer"}, model=script("submit('seven')", "submit(7)"))
print(h.result(timeout=30), "|", h.transcript[0].output.strip().splitlines()[-1])
"""
    text = await cell(examples, code)
    value, _, first_output = text.partition(" | ")
    assert value == "7"
    assert "'seven' is not of type 'integer'" in first_output


async def test_returns_and_output_schema_together_are_refused(examples: Client) -> None:
    code = 'spawn_agent("x", returns=int, output_schema={"type": "integer"}, model=script("submit(1)"))'
    result = await run(examples, code)
    assert result.is_error
    assert "TypeError: spawn_agent() takes returns= or output_schema= (the same thing), not both." in text_of(result)


async def test_an_unknown_kernel_argument_is_a_type_error_naming_the_valid_ones(examples: Client) -> None:
    result = await run(examples, 'spawn_agent("x", output={"type": "integer"}, model=script("submit(1)"))')
    assert result.is_error
    assert text_of(result).endswith(
        "TypeError: spawn_agent() got an unexpected argument 'output'; it takes task, inputs, returns, "
        "output_schema, name, model, max_turns, timeout."
    )


async def test_an_unknown_mcp_argument_is_a_tool_error_naming_the_valid_ones(examples: Client) -> None:
    result = await examples.call_tool(
        "spawn_agent", {"task": "Count.", "returns": {"type": "integer"}, "name": "misspelt"}
    )
    assert result.is_error
    text = text_of(result)
    assert text.startswith("spawn_agent has no argument 'returns'; nothing was done. Its arguments are `task`")
    assert all(f"`{name}`" in text for name in ("task", "inputs", "output_schema", "name"))
    assert text_of(await run(examples, "print('misspelt' in dir())")) == "False"


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            "nope:x",
            "ModelError: Unknown model 'nope:x'. Use 'openai:<model>', 'anthropic:<model>', 'sampling' or 'auto'.",
        ),
        (
            "openai:gpt-test",
            "ModelError: openai:gpt-test needs OPENAI_API_KEY or OPENAI_BASE_URL in the server's "
            "environment; set it, or use another model.",
        ),
        (
            "anthropic:claude-test",
            "ModelError: anthropic:claude-test needs ANTHROPIC_API_KEY in the server's "
            "environment; set it, or use another model.",
        ),
    ],
)
async def test_a_model_that_cannot_work_fails_at_spawn(examples: Client, model: str, message: str) -> None:
    result = await run(examples, f"never_started = spawn_agent('Anything', model={model!r})")
    assert result.is_error and text_of(result).endswith(message)
    assert text_of(await run(examples, "print('never_started' in dir())")) == "False"


async def test_a_provider_whose_package_is_missing_fails_at_spawn(examples: Client) -> None:
    code = """
import os, sys
os.environ["OPENAI_API_KEY"] = "sk-unused"
saved, sys.modules["openai"] = sys.modules.get("openai"), None  # as if it were not installed
try:
    spawn_agent("Anything", model="openai:gpt-test")
except Exception as exc:
    print(type(exc).__name__, exc)
finally:
    sys.modules["openai"] = saved
    del os.environ["OPENAI_API_KEY"]
"""
    assert await cell(examples, code) == (
        "ModelError openai:gpt-test needs the openai package: pip install 'memex-mcp[openai]'"
    )


def test_the_parquet_footer_gives_pyarrows_column_and_row_counts(tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": [1, 2, 3],
            "nested": [{"x": 1, "y": "a"}, None, {"x": 3, "y": "c"}],
            "items": [[1], [], [2, 3]],
            "pairs": pa.array([[("k", 1)], [], []], type=pa.map_(pa.string(), pa.int64())),
            "flag": [True, False, None],
            "score": [1.5, None, 2.5],
        }
    ).replace_schema_metadata({"source": "test"})
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=1)
    assert counts(path) == (6, 3)
    assert counts(EXAMPLES / "orders.parquet") == (
        pq.read_metadata(EXAMPLES / "orders.parquet").num_columns,
        pq.read_metadata(EXAMPLES / "orders.parquet").num_rows,
    )
