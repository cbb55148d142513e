"""Work that outlives the client's deadline: an execution still running after `--reply-within`
runs on, and the next execute_code calls continue it, stop it, or wait for it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import anyio
import pytest
from conftest import run, settings, text_of
from mcp import Client
from mcp.types import CallToolResult

from memex_mcp.server import build_server
from memex_mcp.server.cli import parse

pytestmark = pytest.mark.anyio

#: Prints 0 … count-1, one every `every` seconds, then `done`.
TICKS = "import time\nfor i in range({count}):\n    print(i, flush=True)\n    time.sleep({every})\nprint('done')"
STILL = "is still running"


@pytest.fixture(scope="module")
async def client(anyio_backend: str) -> AsyncIterator[Client]:
    server = build_server(settings(timeout=30, reply_within=1, interrupt_grace=2, output_limit=2000))
    async with Client(server, raise_exceptions=True) as c:
        yield c


def number_of(reply: str) -> int:
    found = re.search(r"Execution \[(\d+)\] is still running", reply)
    assert found, reply
    return int(found.group(1))


def printed(reply: str) -> list[str]:
    """The lines a cell printed (memex's own lines left out)."""
    return [line for line in reply.splitlines() if line and not line.startswith("[memex]")]


async def until_ended(client: Client, first: CallToolResult, code: str = "") -> list[str]:
    """The replies of calls sending `code` until the running execution has ended, the first included."""
    replies = [text_of(first)]
    for _ in range(30):
        if STILL not in replies[-1]:
            return replies
        result = await run(client, code)
        replies.append(text_of(result))
    raise AssertionError(f"still running after 30 calls: {replies[-1]}")


async def test_a_cell_past_the_deadline_returns_its_first_lines_and_later_calls_the_rest_exactly_once(
    client: Client,
) -> None:
    first = await run(client, TICKS.format(count=8, every=0.5))
    reply = text_of(first)
    assert not first.is_error
    assert STILL in reply and "interrupt=True" in reply and 'code ""' in reply
    assert printed(reply)[0] == "0" and "done" not in reply
    number = number_of(reply)

    # The model sends its next code at once; it runs only after the execution has ended.
    replies = await until_ended(client, first, "print('own code')")
    everything = [line for r in replies for line in printed(r)]
    assert everything == [*map(str, range(8)), "done", "own code"]
    held = [r for r in replies[1:-1]]
    assert all("was NOT run" in r for r in held)
    assert f"Output of execution [{number}] since the last reply" in replies[-1]
    assert f"Execution [{number}] has ended" in replies[-1]

    whole = await run(client, f"print(repr(_outputs[{number}]))")
    assert text_of(whole) == repr("".join(f"{i}\n" for i in range(8)) + "done\n")


async def test_empty_code_only_waits_and_nothing_new_runs(client: Client) -> None:
    first = await run(client, TICKS.format(count=4, every=0.5))
    replies = await until_ended(client, first)
    assert [line for r in replies for line in printed(r)] == ["0", "1", "2", "3", "done"]
    assert "[memex]" in replies[-1] and STILL not in replies[-1]
    nothing = await run(client, "")
    assert text_of(nothing) == "(no output)"


async def test_interrupting_a_running_execution_keeps_the_scope_and_then_runs_the_code(client: Client) -> None:
    first = await run(client, "kept = 41\nimport time\nfor _ in range(200): time.sleep(0.1)\nprint('never')")
    assert STILL in text_of(first)
    stopped = await run(client, "print(kept + 1)", interrupt=True)
    reply = text_of(stopped)
    assert "interrupted, as asked" in reply and "The kernel kept its state." in reply
    assert reply.endswith("42") and "never" not in reply
    assert not stopped.is_error


async def test_interrupt_with_nothing_running_says_so_and_runs_the_code(client: Client) -> None:
    result = await run(client, "print('ran')", interrupt=True)
    assert text_of(result) == "[memex] No execution was running, so none was interrupted.\nran"


async def test_a_cancelled_wait_does_not_stop_the_running_execution(client: Client) -> None:
    first = await run(client, TICKS.format(count=6, every=0.5))
    number = number_of(text_of(first))
    with anyio.move_on_after(0.3) as waited:
        await run(client, "")
    assert waited.cancelled_caught
    replies = await until_ended(client, await run(client, ""))
    assert "interrupted" not in "".join(replies)
    whole = await run(client, f"print(repr(_outputs[{number}]))")
    assert text_of(whole) == repr("".join(f"{i}\n" for i in range(6)) + "done\n")


async def test_the_executions_own_timeout_still_interrupts_it_across_replies(client: Client) -> None:
    first = await run(client, "import time\nfor _ in range(100): time.sleep(0.1)\nprint('never')", timeout=2)
    assert STILL in text_of(first) and "(2 s from its start) still applies" in text_of(first)
    replies = await until_ended(client, first)
    assert "TimeoutError: the execution exceeded 2 s and was interrupted. The kernel kept its state." in replies[-1]
    assert "never" not in "".join(replies)


async def test_a_client_whose_request_timeout_is_shorter_than_the_cell_completes_it_across_calls() -> None:
    server = build_server(settings(timeout=30, reply_within=1, output_limit=2000))
    async with Client(server, read_timeout_seconds=3) as short:
        # The kernel's start is not what this client gives up on.
        await short.call_tool("execute_code", {"code": "pass"}, read_timeout_seconds=120)
        first = await run(short, TICKS.format(count=10, every=0.5))
        number = number_of(text_of(first))
        replies = await until_ended(short, first)
        assert [line for r in replies for line in printed(r)] == [*map(str, range(10)), "done"]
        assert "interrupted" not in "".join(replies)
        whole = await run(short, f"print(repr(_outputs[{number}]))")
        assert text_of(whole) == repr("".join(f"{i}\n" for i in range(10)) + "done\n")


def test_reply_within_is_an_option_and_an_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse([])[1].reply_within == 50
    assert parse(["--reply-within", "5"])[1].reply_within == 5
    monkeypatch.setenv("MEMEX_REPLY_WITHIN", "7.5")
    assert parse([])[1].reply_within == 7.5


async def test_list_scope_during_a_running_execution_answers_names_it_and_leaves_it_running(client: Client) -> None:
    await run(client, "before_the_long_cell = 41")
    first = await run(client, TICKS.format(count=6, every=0.5))
    number = number_of(text_of(first))
    listing = await client.call_tool("list_scope", {"pattern": "before_the_long_cell"})
    assert not listing.is_error
    assert "before_the_long_cell" in text_of(listing)
    assert f"Execution [{number}] is still running" in text_of(listing)
    replies = await until_ended(client, first)
    assert [line for r in replies for line in printed(r)] == [*map(str, range(6)), "done"]
    assert not any("interrupted" in r for r in replies)


async def test_a_gather_past_the_deadline_returns_with_the_agents_progress_then_their_results(
    client: Client,
) -> None:
    # Agents whose model answers after 0, 1, 2 and 3 s: the gather outlives reply-within (1 s).
    setup = (
        "from memex_mcp.runtime.models.scripted import ScriptedModel\n"
        "def slow(seconds):\n"
        "    return ScriptedModel.replies(['```python\\nsubmit(%d)\\n```' % seconds], latency=seconds)\n"
        "handles = [spawn_agent('count', model=slow(s)) for s in range(4)]"
    )
    assert not (await run(client, setup)).is_error
    first = await run(client, "print(gather(*handles))")
    assert re.search(r"still running \([^)]*\d/4 agents done", text_of(first)), text_of(first)
    replies = await until_ended(client, first)
    assert [line for r in replies for line in printed(r)] == ["[0, 1, 2, 3]"]


async def test_a_kernel_that_dies_during_a_running_execution_is_reported_by_the_next_call(client: Client) -> None:
    await run(client, "kept_across_the_death = 'still here'")
    kill = "import os, signal, time\nprint('working', flush=True)\ntime.sleep(2)\nos.kill(os.getpid(), signal.SIGKILL)"
    first = await run(client, kill)
    assert STILL in text_of(first)
    replies = await until_ended(client, first)
    assert "died" in replies[-1] and "kept_across_the_death" in replies[-1], replies[-1]
    assert text_of(await run(client, "print(kept_across_the_death)")) == "still here"
