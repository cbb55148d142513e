"""Every piece of output is kept, with the execution it belongs to, in bounded memory."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator

import pytest
from conftest import STATE_DIR, kill_kernel, run, settings, text_of
from mcp import Client

from memex_mcp.server import build_server

pytestmark = pytest.mark.anyio

NUMBER = "__import__('IPython').get_ipython().execution_count - 1"


async def number_of_last(client: Client) -> int:
    """The number of the execution before this call."""
    return int(text_of(await run(client, NUMBER)).strip()) - 1


async def test_a_threads_line_printed_during_a_later_cell_is_shown_there_once_marked_and_kept_with_its_cell(
    client: Client,
) -> None:
    started = await run(
        client,
        (
            "import threading\n"
            "own, later, done = threading.Event(), threading.Event(), threading.Event()\n"
            "def worker():\n"
            "    print('thread: during its own cell'); own.set()\n"
            "    later.wait(10); print('thread: during a later cell'); done.set()\n"
            "threading.Thread(target=worker).start()\n"
            "own.wait(10); print('cell A')"
        ),
    )
    a = await number_of_last(client)
    b_reply = text_of(await run(client, "print('cell B before'); later.set(); done.wait(10); print('cell B after')"))
    b = await number_of_last(client)
    kept = text_of(await run(client, f"print(repr(_outputs[{a}])); print(repr(_outputs[{b}]))"))

    assert text_of(started) == "thread: during its own cell\ncell A"
    assert b_reply == (
        f"cell B before\n[output of a thread started in execution [{a}]]\nthread: during a later cell\n"
        f"[output of execution [{b}]]\ncell B after"
    )
    assert kept.splitlines() == [
        repr("thread: during its own cell\ncell A\nthread: during a later cell\n"),
        repr("cell B before\ncell B after\n"),
    ]


async def test_output_printed_between_cells_comes_with_the_next_reply_marked_and_is_kept(client: Client) -> None:
    # A callback after the recorder's own end of the cell: what it makes happen is between cells.
    a_reply = await run(
        client,
        (
            "import os, threading\n"
            "go, done = threading.Event(), threading.Event()\n"
            "def worker():\n"
            "    go.wait(10); print('thread: between cells'); done.set()\n"
            "threading.Thread(target=worker).start()\n"
            "def after_this_cell(result):\n"
            "    get_ipython().events.unregister('post_run_cell', after_this_cell)\n"
            "    go.set(); done.wait(10)\n"
            "    os.write(1, b'subprocess: between cells\\n')\n"
            "get_ipython().events.register('post_run_cell', after_this_cell)\n"
            f"print('cell A', {NUMBER})"
        ),
    )
    a = int(text_of(a_reply).split()[-1])
    c_reply = text_of(await run(client, f"print('cell C')\n{NUMBER}"))
    c = a + 1
    kept = text_of(await run(client, f"print(repr(_outputs[{a}])); print(repr(_outputs[{c}]))"))

    assert c_reply == (
        f"[output of a thread started in execution [{a}]]\nthread: between cells\n"
        "[output printed between executions]\nsubprocess: between cells\n"
        f"[output of execution [{c}]]\ncell C\n{c}"
    )
    assert kept.splitlines() == [
        repr(f"cell A {a}\nthread: between cells\n"),
        repr(f"[output printed between executions]\nsubprocess: between cells\ncell C\n{c}\n"),
    ]


async def test_a_thread_pool_task_writes_as_the_cell_that_submitted_it(client: Client) -> None:
    await run(
        client,
        "from concurrent.futures import ThreadPoolExecutor\npool = ThreadPoolExecutor(1)\n"
        "pool.submit(print, 'task of the first cell').result()",
    )
    reply = text_of(await run(client, "pool.submit(print, 'task of the second cell').result(); print('own line')"))
    second = await number_of_last(client)
    kept = text_of(await run(client, f"pool.shutdown(); print(repr(_outputs[{second}]))"))

    assert reply == "task of the second cell\nown line"
    assert kept == repr("task of the second cell\nown line\n")


async def test_ipython_keeps_no_second_copy_of_what_cells_print(client: Client) -> None:
    await run(client, "print('x' * 10_000)")
    kept = text_of(
        await run(
            client,
            "ip = get_ipython(); print(hasattr(type(ip), '_tee'), "
            "sum(len(v) for v in ip.history_manager.outputs.values()))",
        )
    )
    # `_tee` is the IPython method whose copy the runtime switches off: it must still exist.
    assert kept == "True 0"


async def test_a_big_output_lives_in_a_file_and_its_history_line_stays_small() -> None:
    name = f"big-{uuid.uuid4().hex[:8]}"
    async with Client(build_server(settings(session=name, output_limit=2000)), raise_exceptions=True) as client:
        reply = text_of(await run(client, "print('\\n'.join(f'line {i:07d}' for i in range(300_000)))"))
        n = await number_of_last(client)
        check = text_of(
            await run(
                client,
                (
                    f"expected = '\\n'.join(f'line {{i:07d}}' for i in range(300_000)) + '\\n'\n"
                    f"print(_outputs[{n}] == expected, history[-2].output == expected, "
                    f"len(_outputs[{n}]), history[-2])\n"
                    "print(history[-2].output_file)"
                ),
            )
        )
    lines = (STATE_DIR / "sessions" / name / "checkpoint" / "history.jsonl").read_bytes().splitlines()
    record = next(json.loads(line) for line in lines if json.loads(line)["number"] == n)
    spilled = STATE_DIR / "sessions" / name / record["output_file"]

    assert f"characters cut here; the full output is in _outputs[{n}]" in reply
    summary, output_file = check.splitlines()
    assert summary.startswith(f"True True 3900000 <Execution [{n}] ") and summary.endswith(" → 3,900,000 chars>")
    assert output_file == str(spilled)
    assert max(len(line) for line in lines) < 1000
    assert record["output"] is None and record["output_chars"] == 3_900_000
    assert spilled.stat().st_size == 3_900_000


async def test_a_huge_print_under_a_memory_limit_gets_a_normal_reply_and_outlives_the_kernel(
    fresh_limited: Client,
) -> None:
    size = 50 * 10**6
    reply = await run(fresh_limited, f"print(('x' * 99 + '\\n') * {size // 100}, end='')")
    n = await number_of_last(fresh_limited)
    before = text_of(await run(fresh_limited, f"print(len(_outputs[{n}]), history[-2].number)"))
    await kill_kernel(fresh_limited)
    after = text_of(
        await run(
            fresh_limited,
            (
                f"out = _outputs[{n}]\nprint(len(out), out == ('x' * 99 + '\\n') * {size // 100}, "
                f"[e.number for e in history].count({n}))"
            ),
        )
    )

    assert not reply.is_error
    assert re.search(rf"\[… [\d,]+ characters cut here; the full output is in _outputs\[{n}\] …\]", text_of(reply))
    assert before == f"{size} {n}"
    assert after == f"{size} True 1"


@pytest.fixture
async def fresh_limited(anyio_backend: str) -> AsyncIterator[Client]:
    async with Client(
        build_server(settings(timeout=60, memory_limit=1400 * 2**20, output_limit=2000)), raise_exceptions=True
    ) as c:
        yield c
