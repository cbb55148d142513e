"""list_scope, submit and spawn_agent answer while an execution runs: they reach the kernel on a path
of their own (a subshell), not behind the running cell, and never interrupt it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from conftest import run, settings, text_of
from mcp import Client, types

from memex_mcp.server import build_server

pytestmark = pytest.mark.anyio

# Every agent submits the sum of `numbers` (the runtime's scripted model).
SETUP = """\
from memex_mcp.runtime.models import set_default_model
from memex_mcp.runtime.models.scripted import ScriptedModel
from memex_mcp.runtime import runtime
set_default_model(ScriptedModel.replies(["```python\\nsubmit(sum(numbers))\\n```"]))
numbers = [1, 2, 3]
print(runtime.current().config.session_dir)
"""


@pytest.fixture(scope="module")
async def client(anyio_backend: str) -> AsyncIterator[Client]:
    async with Client(build_server(settings(timeout=60, call_timeout=3)), raise_exceptions=True) as c:
        setup = await run(c, SETUP)
        assert not setup.is_error, text_of(setup)
        c.session_dir = Path(text_of(setup).strip())  # type: ignore[attr-defined]
        yield c


class RunningCell:
    """A cell that prints `started`, then runs until the test creates its release file."""

    def __init__(self, client: Client, tmp_path: Path) -> None:
        self._client = client
        self._release = tmp_path / "release"
        self.started = anyio.Event()
        self.result: types.CallToolResult | None = None

    async def _on_progress(self, progress: float, total: float | None, message: str | None) -> None:
        self.started.set()

    async def run(self) -> None:
        code = (
            "import os, time\n"
            "print('started', flush=True)\n"
            f"while not os.path.exists({str(self._release)!r}):\n"
            "    time.sleep(0.02)\n"
            "print('ended')"
        )
        self.result = await self._client.call_tool(
            "execute_code", {"code": code, "timeout": 60}, progress_callback=self._on_progress
        )

    def release(self) -> None:
        self._release.touch()


@asynccontextmanager
async def during_a_cell(client: Client, tmp_path: Path) -> AsyncIterator[RunningCell]:
    cell = RunningCell(client, tmp_path)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(cell.run)
        with anyio.fail_after(30):
            await cell.started.wait()
        try:
            yield cell
        finally:
            cell.release()
    assert cell.result is not None
    assert not cell.result.is_error, text_of(cell.result)
    # Not interrupted, nothing lost: the cell ran to its own end.
    assert text_of(cell.result) == "started\nended"


async def test_list_scope_answers_while_a_cell_runs_and_shows_the_variables_set_before_it(
    client: Client, tmp_path: Path
) -> None:
    await run(client, "before_cell = {'a': 1}")
    async with during_a_cell(client, tmp_path) as cell:
        with anyio.fail_after(10):
            listing = await client.call_tool("list_scope", {"pattern": "before_*"})
        # The cell can end only once released, which happens after this: the listing came first.
        assert cell.result is None
        assert not listing.is_error, text_of(listing)
        assert listing.structured_content is not None
        names = [v["name"] for v in listing.structured_content["variables"]]
        assert names == ["before_cell"]


async def test_submit_of_a_variable_while_a_cell_runs_is_recorded_and_checkpointed_at_once(
    client: Client, tmp_path: Path
) -> None:
    await run(client, "answer_during = {'total': 42}")
    submitted = client.session_dir / "checkpoint" / "submissions.json"  # type: ignore[attr-defined]
    async with during_a_cell(client, tmp_path) as cell:
        with anyio.fail_after(10):
            receipt = await client.call_tool("submit", {"variable": "answer_during"})
        assert cell.result is None
        assert not receipt.is_error, text_of(receipt)
        # Kept by the checkpoint before the cell ends, as a submission outside any cell is.
        assert json.loads(submitted.read_text())[-1] == {"total": 42}
    assert text_of(await run(client, "print(submissions[-1])")) == "{'total': 42}"


async def test_spawn_agent_starts_an_agent_while_a_cell_runs(client: Client, tmp_path: Path) -> None:
    async with during_a_cell(client, tmp_path) as cell:
        with anyio.fail_after(10):
            started = await client.call_tool(
                "spawn_agent", {"task": "Add up the numbers.", "inputs": ["numbers"], "name": "adder_during"}
            )
        assert cell.result is None
        assert not started.is_error, text_of(started)
        assert started.structured_content == {"variable": "adder_during"}
    with anyio.fail_after(60):
        assert text_of(await run(client, "print(adder_during.result(timeout=30))")) == "6"


async def test_a_stuck_repr_in_list_scope_during_a_cell_is_left_behind_and_the_cell_is_not_interrupted(
    client: Client, tmp_path: Path
) -> None:
    await run(
        client,
        "import threading\nrepr_gate = threading.Event()\n"
        "class StuckRepr:\n    def __repr__(self):\n        repr_gate.wait(60)\n        return 'StuckRepr()'\n"
        "stuck_repr = StuckRepr()\nbeside_it = 7",
    )
    try:
        async with during_a_cell(client, tmp_path) as cell:
            with anyio.fail_after(10):
                listing = await client.call_tool("list_scope", {})
            assert cell.result is None
            assert not listing.is_error, text_of(listing)
            assert listing.structured_content is not None
            entries = {v["name"]: v for v in listing.structured_content["variables"]}
            assert entries["stuck_repr"]["summary"] == "<preview took over 1 s>"
            assert entries["beside_it"]["summary"] == "7"
    finally:
        await run(client, "repr_gate.set()\ndel stuck_repr")


async def test_a_call_stuck_past_its_bound_during_a_cell_fails_alone_and_later_calls_still_answer(
    client: Client, tmp_path: Path
) -> None:
    # Its JSON form waits for the gate: the submit call cannot finish within its bound of 3 s.
    await run(
        client,
        "import threading\nsubmit_gate = threading.Event()\n"
        "class StuckArray:\n    dtype = 'int64'\n"
        "    def tolist(self):\n        submit_gate.wait(60)\n        return [1, 2]\n"
        "stuck_array = StuckArray()",
    )
    try:
        async with during_a_cell(client, tmp_path) as cell:
            with anyio.fail_after(30):
                stuck = await client.call_tool("submit", {"variable": "stuck_array"})
                assert stuck.is_error
                assert "submit did not finish within 3 s; it was left to finish in the background" in text_of(stuck)
                assert "a running execution goes on" in text_of(stuck)
                listing = await client.call_tool("list_scope", {"pattern": "stuck_*"})
            assert cell.result is None
            assert not listing.is_error, text_of(listing)
    finally:
        await run(client, "submit_gate.set()")
    # The abandoned call went on by itself once it could, as the error said it might.
    with anyio.fail_after(30):
        waited = await run(client, "import time\nwhile submissions[-1] != [1, 2]: time.sleep(0.02)\nprint('recorded')")
    assert text_of(waited) == "recorded"
