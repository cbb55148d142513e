"""Every tool reply within the output limit; submit's acknowledgement; list_scope on hostile objects."""

from __future__ import annotations

import anyio
import pytest
from conftest import run, text_of
from mcp import Client

pytestmark = pytest.mark.anyio

LIMIT = 2000  # the output limit of the module's client (conftest)


async def submissions_count(client: Client) -> int:
    return int(text_of(await run(client, "len(submissions)")))


async def test_submitting_a_10000_row_frame_replies_with_a_short_acknowledgement_naming_the_submission(
    client: Client,
) -> None:
    await run(
        client,
        "import pandas as pd\nfl10k = pd.DataFrame({'id': range(10_000), 'note': ['n' * 120] * 10_000, 'x': 1.5})",
    )
    result = await client.call_tool("submit", {"variable": "fl10k"})
    assert not result.is_error
    number = await submissions_count(client)
    text = text_of(result)
    assert len(text) <= LIMIT
    assert text.startswith(f"Accepted as submission {number}: 10,000 records, ")
    assert "no schema to check it against" in text and 'Preview: [{"id":0,"note":"nnn' in text
    # Over a megabyte of JSON: the client gets the acknowledgement, not the megabytes.
    structured = result.structured_content
    assert structured is not None and structured["truncated"] is True
    assert structured["where"] == f"submissions[{number - 1}]" and structured["json_bytes"] > 1_000_000
    assert result.meta is not None and result.meta["memex/complete"] is False
    kept = text_of(await run(client, f"len(submissions[{number - 1}]), submissions[{number - 1}][-1]['id']"))
    assert kept == "(10000, 9999)"


async def test_a_submission_under_a_megabyte_comes_back_whole_as_structured_content(client: Client) -> None:
    await run(client, "import pandas as pd\nsmall = pd.DataFrame({'k': [f'k{i}' for i in range(224)], 'v': 2})")
    result = await client.call_tool("submit", {"variable": "small", "schema": {"type": "array"}})
    assert not result.is_error
    assert result.structured_content == {"result": [{"k": f"k{i}", "v": 2} for i in range(224)]}
    assert "224 records" in text_of(result) and "valid against the schema you gave" in text_of(result)
    assert len(text_of(result)) <= LIMIT


async def test_submit_without_value_or_variable_is_an_error_that_says_what_to_pass(client: Client) -> None:
    before = await submissions_count(client)
    for arguments in ({}, {"value": None}):
        result = await client.call_tool("submit", arguments)
        assert result.is_error, arguments
        assert "Nothing to submit" in text_of(result)
        assert "`value`" in text_of(result) and "`variable`" in text_of(result)
    await run(client, "empty = None")
    held_none = await client.call_tool("submit", {"variable": "empty"})
    assert held_none.is_error and "`empty` is None" in text_of(held_none)
    assert await submissions_count(client) == before


async def test_submit_with_an_unknown_argument_is_an_error_that_names_the_arguments(client: Client) -> None:
    before = await submissions_count(client)
    result = await client.call_tool("submit", {"answer": 42})
    assert result.is_error
    text = text_of(result)
    assert "submit has no argument 'answer'" in text
    assert "`value`" in text and "`variable`" in text and "`schema`" in text
    assert await submissions_count(client) == before


async def test_every_tool_refuses_an_unknown_argument_without_running(client: Client) -> None:
    ran = await client.call_tool("execute_code", {"code": "ran_anyway = 1", "timeot": 5})
    assert ran.is_error and "execute_code has no argument 'timeot'" in text_of(ran)
    assert "`code`" in text_of(ran) and "`timeout`" in text_of(ran)
    assert text_of(await run(client, "'ran_anyway' in globals()")) == "False"
    listing = await client.call_tool("list_scope", {"patern": "x*"})
    assert listing.is_error and "`pattern`" in text_of(listing)


async def test_a_submission_made_in_code_shows_its_acknowledgement(client: Client) -> None:
    result = await run(client, "submit({'from': 'code'})")
    number = await submissions_count(client)
    assert text_of(result) == (
        f"Accepted as submission {number}: an object with 1 key, 15 B of JSON, no schema to "
        'check it against.\nAnswer: {"from":"code"}'
    )


async def test_list_scope_lists_an_object_whose_attribute_lookup_raises_and_all_the_others(client: Client) -> None:
    cell = await run(
        client,
        "class AttrDict(dict):\n    __getattr__ = dict.__getitem__\n"
        "class BadRepr:\n    def __repr__(self):\n        raise RuntimeError('no repr')\n"
        "cfg = AttrDict(lr=0.1)\nbad = BadRepr()\nafter_cfg = [1, 2, 3]",
    )
    assert not cell.is_error  # the checkpoint after the cell sized cfg without failing
    result = await client.call_tool("list_scope", {})
    assert not result.is_error
    entries = {e["name"]: e for e in result.structured_content["variables"]}
    assert entries["cfg"]["type"] == "AttrDict" and entries["cfg"]["summary"] == "len 1: {'lr': 0.1}"
    assert entries["cfg"]["size_bytes"] is not None
    assert entries["bad"]["summary"].startswith("<BadRepr instance at 0x")  # reprlib's stand-in
    assert entries["after_cfg"]["summary"] == "len 3: [1, 2, 3]"


async def test_a_slow_repr_is_cut_short_with_a_note_and_the_listing_goes_on(client: Client) -> None:
    await run(
        client,
        "import time, signal\n"
        "class Slow:\n    def __repr__(self):\n        time.sleep(60)\n        return 'slow'\n"
        "class Stubborn:\n    def __repr__(self):\n        try:\n            time.sleep(60)\n"
        "        except Exception:\n            pass\n        return 'stubborn'\n"
        "def mine(signum, frame):\n    pass\n"
        "signal.signal(signal.SIGALRM, mine)\n"
        "slow, stubborn, quick = Slow(), Stubborn(), 'fine'",
    )
    with anyio.fail_after(40):
        result = await client.call_tool("list_scope", {"pattern": "[sq]*"})
    assert not result.is_error
    entries = {e["name"]: e["summary"] for e in result.structured_content["variables"]}
    assert entries["slow"] == entries["stubborn"] == "<preview took over 1 s>"
    assert entries["quick"] == "len 4: 'fine'"
    assert "<preview took over 1 s>" in text_of(result)
    # The user's own SIGALRM handler is back in place.
    assert text_of(await run(client, "signal.getsignal(signal.SIGALRM) is mine")) == "True"


async def test_list_scope_shows_a_dataframe_by_its_shape_and_column_names(client: Client) -> None:
    await run(
        client,
        "import pandas as pd\n"
        "frame = pd.DataFrame({'city': ['Oslo'] * 10_000, 'year': 2024, 'revenue': 1.5})\n"
        "rev = frame.revenue",
    )
    result = await client.call_tool("list_scope", {"pattern": "frame"})
    [entry] = result.structured_content["variables"]
    assert entry["summary"] == "10,000×3; columns: city, year, revenue"
    series = (await client.call_tool("list_scope", {"pattern": "rev"})).structured_content["variables"]
    assert series[0]["summary"] == "10,000 float64 'revenue': [1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, …]"


async def test_list_scope_with_a_pattern_that_matches_nothing_says_how_many_variables_exist(client: Client) -> None:
    count = int(
        text_of(
            await run(
                client,
                "len([n for n, v in globals().items() if not n.startswith('_') and "
                "n not in get_ipython().user_ns_hidden and type(v).__name__ != 'module'])",
            )
        )
    )
    result = await client.call_tool("list_scope", {"pattern": "no_such_*"})
    assert not result.is_error
    assert text_of(result) == (
        f"No variable matches 'no_such_*'; the scope has {count:,} variables: "
        "list_scope() without a pattern lists them."
    )
    assert result.structured_content == {"variables": [], "agents": []}


async def test_list_scope_text_stays_within_the_output_limit_however_many_variables(client: Client) -> None:
    await run(client, "for i in range(600):\n    globals()[f'many_{i:03}'] = 'v' * 100")
    result = await client.call_tool("list_scope", {"pattern": "many_*"})
    text = text_of(result)
    assert len(text) <= LIMIT
    assert text.splitlines()[0].startswith("many_000")
    assert text.splitlines()[-1].endswith(
        "not shown; narrow the listing with a pattern, e.g. list_scope(pattern='df_*')]"
    )
    assert " more of 600 not shown" in text
    assert len(result.structured_content["variables"]) == 600


async def test_a_cell_that_prints_nothing_and_has_no_value_says_no_output(client: Client) -> None:
    result = await run(client, "quiet = 1")
    assert not result.is_error
    assert text_of(result) == "(no output)"


async def test_a_tool_error_longer_than_the_output_limit_is_cut_to_it(client: Client) -> None:
    schema = {"type": "array", "items": {"type": "integer"}}
    result = await client.call_tool("submit", {"value": ["w" * 500] * 12, "schema": schema})
    assert result.is_error
    text = text_of(result)
    assert len(text) <= LIMIT
    assert "The answer does not match the schema" in text and "characters cut here" in text


async def test_after_five_seconds_of_slow_previews_the_rest_are_listed_by_name_and_type(client: Client) -> None:
    await run(
        client,
        "import time\nclass Sleepy:\n    def __repr__(self):\n        time.sleep(60)\n"
        "for i in range(6):\n    globals()[f'nap_{i}'] = Sleepy()\nnap_last = [1]",
    )
    with anyio.fail_after(60):
        result = await client.call_tool("list_scope", {"pattern": "nap_*"})
    entries = {e["name"]: e for e in result.structured_content["variables"]}
    assert [entries[f"nap_{i}"]["summary"] for i in range(5)] == ["<preview took over 1 s>"] * 5
    assert entries["nap_last"] == {
        "name": "nap_last",
        "type": "list",
        "size_bytes": None,
        "summary": "<not previewed: the listing took over 5 s>",
    }
