"""Faults injected through a real client: the scope comes back from its checkpoint, and the result
says exactly what came back and what could not."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from agent_helpers import SETUP
from conftest import PID, kill, kill_kernel, run, settings, text_of
from mcp import Client
from mcp.types import CallToolResult

from memex_mcp.server import build_server

pytestmark = pytest.mark.anyio

#: Deletes every user variable (and module) from the scope, so each test sees exactly its own.
CLEAR = (
    "for _k in [_k for _k, _v in list(globals().items())\n"
    "           if not _k.startswith('_') and get_ipython().user_ns_hidden.get(_k, None) is not _v]:\n"
    "    del globals()[_k]"
)
_NOTE = re.compile(
    r"restored the variables as of execution \[\d+\]: (?P<names>.*?)(?:; not restored: (?P<lost>.*))?\.$"
)


@pytest.fixture(scope="module")
async def client(anyio_backend: str) -> AsyncIterator[Client]:
    async with Client(
        build_server(settings(timeout=30, interrupt_grace=1, checkpoint_max_bytes=16 * 2**20)), raise_exceptions=True
    ) as c:
        yield c


@pytest.fixture
async def fresh(client: Client) -> Client:
    await run(client, CLEAR)
    return client


def restored(text: str) -> tuple[list[str], dict[str, str]]:
    """The names a result says were restored, and {name: 'type: reason'} of those that were not."""
    match = next(m for line in text.splitlines() if (m := _NOTE.search(line)))
    lost = {}
    for item in re.split(r"; (?=\w+ \()", match["lost"]) if match["lost"] else []:
        name, _, rest = item.partition(" (")
        lost[name] = rest[:-1]
    return match["names"].split(", "), lost


async def session_dir(client: Client) -> Path:
    return Path(
        text_of(await run(client, "__import__('memex_mcp.runtime.config').runtime.config.load().session_dir")).strip(
            "'"
        )
    )


async def test_a_killed_kernel_comes_back_with_equal_values_of_every_picklable_type(fresh: Client) -> None:
    await run(
        fresh,
        "import math, collections, numpy as np\n"
        "n, x, s, raw = 7, 2.5, 'text', b'\\x00\\xff'\n"
        "items = [1, 'two', (3, 4), {5}]\n"
        "table = {'a': [1, 2], 'b': None}\n"
        "counts = collections.Counter('hello')\n"
        "arr = np.arange(12).reshape(3, 4)\n"
        "def area(r):\n    return math.pi * r * r * n\n"
        "class Point:\n    def __init__(self, x, y):\n        self.x, self.y = x, y\n"
        "    def norm(self):\n        return math.hypot(self.x, self.y)\n"
        "p = Point(3, 4)\n"
        "square = lambda v: v * v",
    )
    note = await kill_kernel(fresh)
    assert note.startswith("[memex] The kernel died after the previous call (killed by SIGKILL) and was replaced")
    names, lost = restored(note)
    assert sorted(names) == [
        "Point",
        "area",
        "arr",
        "collections",
        "counts",
        "items",
        "math",
        "n",
        "np",
        "p",
        "raw",
        "s",
        "square",
        "table",
        "x",
    ]
    assert lost == {}
    check = (
        "(n, x, s, raw, items, table, counts['l'], arr.sum(), arr.shape, round(area(1), 3), p.norm(), "
        "type(p).__name__, isinstance(p, Point), square(9), type(arr).__name__)"
    )
    assert text_of(await run(fresh, f"print(repr({check}))")) == (
        "(7, 2.5, 'text', b'\\x00\\xff', [1, 'two', (3, 4), {5}], {'a': [1, 2], 'b': None}, 2, "
        "np.int64(66), (3, 4), 21.991, 5.0, 'Point', True, 81, 'ndarray')"
    )


async def test_restored_functions_read_the_live_scope_and_shared_objects_stay_shared(fresh: Client) -> None:
    await run(
        fresh,
        "factor = 2\nbase = [1, 2]\nholder = {'list': base}\ndef scaled():\n    return [v * factor for v in base]",
    )
    await kill_kernel(fresh)
    assert text_of(await run(fresh, "holder['list'] is base")) == "True"
    assert text_of(await run(fresh, "factor = 10\nbase.append(3)\nscaled()")) == "[10, 20, 30]"


async def test_mutations_are_checkpointed_whether_or_not_the_cell_names_the_variable(fresh: Client) -> None:
    await run(fresh, "import numpy as np\nsmall = []\nbig = np.zeros(1_000_000)\ndef add(v):\n    small.append(v)")
    await run(fresh, "add('through a function')")  # never names `small`
    await run(fresh, "big[7] = 42.0")  # 8 MB: saved again because the cell names it
    await kill_kernel(fresh)
    assert (
        text_of(await run(fresh, "small, big[7], big.shape"))
        == "(['through a function'], np.float64(42.0), (1000000,))"
    )


async def test_a_kernel_that_dies_mid_execution_keeps_the_scope_of_the_previous_execution(fresh: Client) -> None:
    await run(fresh, "value = 'before'\nnumbers = [1, 2]")
    with anyio.fail_after(30):
        result = await run(fresh, "value = 'during'\nnumbers.append(3)\nnew = 1\nimport os\nos._exit(3)")
    assert result.is_error
    text = text_of(result)
    assert "The kernel died while running this code (exit code 3) and was replaced by a new one" in text
    names, lost = restored(text)
    assert sorted(names) == ["numbers", "value"]
    assert lost == {}
    assert text_of(await run(fresh, "value, numbers, 'new' in globals()")) == "('before', [1, 2], False)"


async def test_a_kernel_killed_mid_execution_comes_back_as_it_was_before_that_execution(fresh: Client) -> None:
    await run(fresh, "steady = 'before'")
    pid = int(text_of(await run(fresh, PID)))
    running = anyio.Event()
    results: list[CallToolResult] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        running.set()

    async def call() -> None:
        code = "steady = 'during'\nprint('running', flush=True)\nimport time\ntime.sleep(60)"
        results.append(await fresh.call_tool("execute_code", {"code": code}, progress_callback=on_progress))

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(call)
            await running.wait()
            await kill(pid)
    text = text_of(results[0])
    assert results[0].is_error
    assert text.startswith("running\n")
    assert "The kernel died while running this code (killed by SIGKILL) and was replaced by a new one" in text
    assert restored(text) == (["steady"], {})
    assert text_of(await run(fresh, "steady")) == "'before'"


async def test_a_segfault_through_ctypes_is_survived_with_the_scope(fresh: Client) -> None:
    await run(fresh, "survives = {'k': 'v'}")
    with anyio.fail_after(30):
        result = await run(fresh, "import ctypes\nctypes.string_at(0)")
    assert result.is_error
    assert "The kernel died while running this code (killed by SIGSEGV)" in text_of(result)
    assert restored(text_of(result))[0] == ["survives"]
    assert text_of(await run(fresh, "survives")) == "{'k': 'v'}"


async def test_unpicklable_objects_are_listed_with_the_reason_and_never_break_a_cell(fresh: Client) -> None:
    setup = await run(
        fresh,
        "import threading, socket\n"
        "gen = (i for i in range(3))\n"
        "lock = threading.Lock()\n"
        "handle = socket.socket()\n"
        "class Loud:\n    def __reduce__(self):\n        print('pickling!')\n"
        "        raise RuntimeError('refuses')\n"
        "loud = Loud()\n"
        "ok = 'fine'\n"
        "print('done')",
    )
    assert not setup.is_error
    assert text_of(setup) == "done"  # what the pickling printed is not the cell's output
    names, lost = restored(await kill_kernel(fresh))
    assert sorted(names) == ["Loud", "ok", "socket", "threading"]
    assert lost == {
        "gen": "generator: not picklable (TypeError: cannot pickle 'generator' object)",
        "handle": "socket.socket: an open socket: network connections do not survive their kernel; connect again",
        "lock": "_thread.lock: not picklable (TypeError: cannot pickle '_thread.lock' object)",
        "loud": "Loud: not picklable (RuntimeError: refuses)",
    }
    assert text_of(await run(fresh, "ok")) == "'fine'"


async def test_a_deleted_variable_does_not_come_back(fresh: Client) -> None:
    await run(fresh, "gone = 1\nstays = 2")
    await run(fresh, "del gone")
    names, _ = restored(await kill_kernel(fresh))
    assert names == ["stays"]


async def test_values_over_the_size_limit_are_listed_and_dataframes_over_it_are_kept_as_parquet(
    fresh: Client,
) -> None:
    # The module's server keeps at most 16 MB per variable.
    await run(
        fresh,
        "import pandas as pd\nblob = b'x' * 20 * 2**20\n"
        "frame = pd.DataFrame({'a': range(2_000_000), 'b': ['row'] * 2_000_000})\nsmall = 1",
    )
    names, lost = restored(await kill_kernel(fresh))
    assert sorted(names) == ["frame", "pd", "small"]
    assert lost == {"blob": "bytes: too big (20.0 MB, over the checkpoint limit of 16 MB per variable)"}
    assert (
        text_of(await run(fresh, "frame.shape, frame['a'].sum(), frame['b'].iloc[-1], type(frame).__name__"))
        == "((2000000, 2), np.int64(1999999000000), 'row', 'DataFrame')"
    )


async def test_a_corrupt_or_truncated_checkpoint_file_is_detected_and_the_rest_is_restored(fresh: Client) -> None:
    await run(fresh, "first = list(range(100))\nsecond = 'abc' * 10\nthird = {'x': 1}")
    checkpoint = await session_dir(fresh) / "checkpoint"
    files = {p.name.split(".")[0]: p for p in checkpoint.glob("*.pkl")}
    first_size = files["first"].stat().st_size
    files["first"].write_bytes(files["first"].read_bytes()[:20])  # truncated
    data = bytearray(files["second"].read_bytes())
    data[-3] ^= 0xFF  # one flipped byte
    files["second"].write_bytes(bytes(data))
    (checkpoint / "third.99.pkl.tmp").write_bytes(b"a write that a crash cut short")
    names, lost = restored(await kill_kernel(fresh))
    assert names == ["third"]
    kept = "set aside: its saved value is kept (not loaded again) until you bind"
    assert lost == {
        "first": f"list: its checkpoint file is corrupt (20 of {first_size} bytes, checksum mismatch); "
        f"{kept} first again",
        "second": f"str: its checkpoint file is corrupt ({len(data)} of {len(data)} bytes, checksum mismatch); "
        f"{kept} second again",
    }
    assert not list(checkpoint.glob("*.tmp"))
    assert text_of(await run(fresh, "third, 'first' in globals()")) == "({'x': 1}, False)"
    await run(fresh, "first = second = 0")  # binding the names again drops what was set aside


async def test_history_and_execution_numbers_continue_after_a_restart(fresh: Client) -> None:
    await run(fresh, "print('remember me')")
    printed = int(text_of(await run(fresh, "history[-1].number")))  # the print's own number
    await kill_kernel(fresh)
    assert text_of(await run(fresh, "[e.output for e in history.find('remember me')][0]")) == "'remember me\\n'"
    assert text_of(await run(fresh, f"_outputs[{printed}]")) == "'remember me\\n'"
    # The new kernel goes on numbering where the old one stopped, so `_outputs` keys never collide.
    numbers = text_of(await run(fresh, "numbers = [e.number for e in history]\nnumbers == sorted(set(numbers))"))
    assert numbers == "True"
    assert int(text_of(await run(fresh, "history[-1].number"))) > printed + 3


async def test_a_memory_limit_turns_a_huge_allocation_into_memory_error_and_the_kernel_lives(
    anyio_backend: str,
) -> None:
    async with Client(build_server(settings(memory_limit=2 * 2**30)), raise_exceptions=True) as own:
        with anyio.fail_after(60):
            await run(own, "keep = 'still here'")
            result = await run(own, "hog = bytearray(4 * 2**30)")
            assert result.is_error and text_of(result).endswith("MemoryError")
            assert text_of(await run(own, "keep, 'hog' in globals()")) == "('still here', False)"


async def test_with_checkpoints_off_a_replaced_kernel_says_its_variables_are_gone(anyio_backend: str) -> None:
    async with Client(build_server(settings(checkpoint_max_bytes=0)), raise_exceptions=True) as own:
        await run(own, "lost = 1")
        note = await kill_kernel(own)
        assert "was replaced by a new one; there was no checkpoint to restore, so its variables are gone." in note
        assert "NameError" in text_of(await run(own, "lost"))


async def test_a_value_that_crashes_the_kernel_while_loading_is_set_aside_alone(anyio_backend: str) -> None:
    async with Client(build_server(settings(timeout=30)), raise_exceptions=True) as own:
        await run(
            own,
            "import ctypes\nclass Poison:\n    def __reduce__(self):\n"
            "        return (ctypes.string_at, (0,))\npoison = Poison()\nplain = 1",
        )
        with anyio.fail_after(60):
            names, lost = restored(await kill_kernel(own))
        assert names == ["Poison", "ctypes", "plain"]
        assert lost == {
            "poison": "Poison: loading it crashed the kernel; set aside: its saved value is kept "
            "(not loaded again) until you bind poison again"
        }
        assert text_of(await run(own, "'plain' in globals(), 'poison' in globals()")) == "(True, False)"
        await run(own, "after = 2")
        names, lost = restored(await kill_kernel(own))  # checkpoints go on as before; poison stays aside
        assert names == ["Poison", "after", "ctypes", "plain"] and list(lost) == ["poison"]


async def test_answers_submitted_through_the_tool_survive_a_kernel_death(fresh: Client) -> None:
    await run(fresh, "submissions.clear()\nsubmit({'in': 'a cell'})")
    answer = await fresh.call_tool("submit", {"value": {"through": "the tool"}})
    assert not answer.is_error
    await kill_kernel(fresh)
    assert text_of(await run(fresh, "submissions")) == "[{'in': 'a cell'}, {'through': 'the tool'}]"


async def test_a_sub_agents_handle_is_listed_as_not_restorable_and_its_result_comes_back(fresh: Client) -> None:
    await run(fresh, SETUP)
    code = (
        "worker = spawn_agent('Count', model=script('submit(41 + 1)'))\n"
        "answer = worker.result(timeout=20)\ndel script, wait_until, agent_thread_alive, ScriptedModel"
    )
    assert not (await run(fresh, code)).is_error
    names, lost = restored(await kill_kernel(fresh))
    assert names == ["answer", "threading", "time"]
    assert lost == {
        "worker": "memex_mcp.runtime.agents.handle.AgentHandle: a sub-agent handle: agents do not survive their kernel"
    }
    assert text_of(await run(fresh, "answer")) == "42"
