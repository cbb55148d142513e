"""One definition of a user variable for list_scope, the checkpoint and agent inputs; one traceback
trimmer for cells and sub-agents; one way of cutting text."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from agent_helpers import SETUP, cell
from conftest import run, settings, text_of
from mcp import Client

from memex_mcp.server import build_server
from memex_mcp.text import keep_ends, listed, shorten

pytestmark = pytest.mark.anyio

#: Names that one place counted and another did not: a rebound preloaded name, a module alias,
#: a `_private` name, next to a plain variable.
BORDERLINE = (
    "db = 5\nimport json as js\n_private = [1]\nrows = [1, 2, 3]\n"
    "from memex_mcp.runtime.models import set_default_model\n"
)
SESSION_DIR = "__import__('memex_mcp.runtime.config').runtime.config.load().session_dir"


@pytest.fixture(scope="module")
async def client(anyio_backend: str) -> AsyncIterator[Client]:
    async with Client(build_server(settings(timeout=60, output_limit=2000)), raise_exceptions=True) as c:
        assert not (await run(c, SETUP)).is_error
        yield c


async def test_list_scope_the_checkpoint_and_the_agent_tool_agree_on_what_a_user_variable_is(client: Client) -> None:
    await cell(client, BORDERLINE + "set_default_model(ScriptedModel.replies(['```python\\nsubmit(1)\\n```']))")
    listing = await client.call_tool("list_scope", {})
    listed_names = {e["name"] for e in listing.structured_content["variables"]}
    assert {"db", "rows"} <= listed_names and not {"js", "_private"} & listed_names

    with anyio.fail_after(60):
        refused = await client.call_tool("spawn_agent", {"task": "Count.", "inputs": ["js", "_private"]})
        accepted = await client.call_tool("spawn_agent", {"task": "Count.", "inputs": ["db", "rows"]})
    assert refused.is_error
    message = text_of(refused)
    assert "inputs names 'js', '_private', which are not among your variables" in message
    existing = message.split("Variables that exist: ", 1)[1].rstrip(".")
    assert {name.strip("'") for name in existing.split(", ")} == listed_names
    assert not accepted.is_error, text_of(accepted)

    # The call that reads the manifest comes after the cell, so that cell's checkpoint is written.
    session = Path(text_of(await run(client, SESSION_DIR)).strip("'"))
    saved = json.loads((session / "checkpoint" / "manifest.json").read_text())["variables"]
    assert {"db", "rows"} <= set(saved) and "_private" not in saved
    # The one deliberate difference: a module is saved as its import, so a restored scope has it back.
    assert saved["js"]["format"] == "module"


async def test_a_sub_agent_gets_the_same_traceback_hints_as_a_cell(client: Client) -> None:
    code = r"""
import pandas as pd
sales = pd.DataFrame({"revenue": [1, 2], "region": ["n", "s"]})
blocks = [
    "total_revenue = 3\nprint(total_revenu)",
    "sales['revnue']",
    "def down(n):\n    return down(n + 1)\ndown(0)",
]
seen = []
def answer(messages, info):
    seen.append(messages[-1].content)
    turn = info["turn"]
    return "```python\n" + (blocks[turn - 1] if turn <= len(blocks) else "submit(0)") + "\n```"
h = spawn_agent("Fail three ways", model=ScriptedModel(answer))
h.result(timeout=30)
print("\n=====\n".join(seen[1:4]))
"""
    name_error, key_error, recursion = (part.rstrip("\n") for part in (await cell(client, code)).split("\n=====\n"))
    assert name_error.endswith("NameError: name 'total_revenu' is not defined. Did you mean: 'total_revenue'?")
    assert "turn 1, line 2, in <module>" in name_error
    assert key_error.endswith(
        "KeyError: 'revnue'\nThe DataFrame's columns are: revenue, region. Did you mean 'revenue'?"
    )
    assert "site-packages" not in key_error
    assert "turn 3, line 2, in down" in recursion
    assert "[Previous line repeated" in recursion and recursion.count("return down(n + 1)") == 3


def test_a_long_text_keeps_its_head_and_tail_within_the_limit_and_says_how_much_was_cut() -> None:
    text = "".join(f"line {i}\n" for i in range(10_000))
    cut = keep_ends(text, 1000, "_outputs[4]")
    assert len(cut) <= 1000
    found = re.fullmatch(
        r"(.*\n)\[… ([\d,]+) characters cut here; the full output is in _outputs\[4\] …\]\n(.*)", cut, re.S
    )
    assert found is not None
    head, count, tail = found.groups()
    assert text.startswith(head) and text.endswith(tail) and tail.startswith("line ")
    assert int(count.replace(",", "")) == len(text) - len(head) - len(tail)
    assert keep_ends("short", 1000, None) == "short"


def test_a_short_value_ends_with_an_ellipsis_and_a_list_of_names_counts_the_rest() -> None:
    assert shorten("abcdef", 4) == "abc…" and shorten("abcd", 4) == "abcd"
    assert listed([f"column_{i}" for i in range(100)], 40) == "column_0, column_1, column_2, column_3, … (96 more)"
    assert listed(["a", "b"], 40) == "a, b"
