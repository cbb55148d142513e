"""The kernel's scope feed (`view/scope.json`, what the viewer shows of the scope): described on the
kernel's main thread when no request runs there, never beside a cell, and still kept current on a
kernel whose cells never pause."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import cell, client, run, text_of
from mcp import Client

from memex_mcp.runtime.feed import STALE

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]
__all__ = ["client"]

#: An object that notes, each time it is described, whether a cell was running then.
PROBE = """
import asyncio
state = {"running": False}
seen = []
get_ipython().events.register("pre_run_cell", lambda info: state.update(running=True))
get_ipython().events.register("post_run_cell", lambda result: state.update(running=False))
class Probe:
    def __repr__(self):
        seen.append(state["running"])
        return "probe"
"""


async def scope_file(client: Client) -> Path:
    folder = text_of(await run(client, "__import__('memex_mcp.runtime.config').runtime.config.load().session_dir"))
    return Path(folder.strip("'")) / "view" / "scope.json"


def described(path: Path) -> dict[str, Any]:
    try:
        return {v["name"]: v for v in json.loads(path.read_text())["variables"]}
    except FileNotFoundError:
        return {}


async def until_described(path: Path, name: str, seconds: float = 30) -> dict[str, Any]:
    with anyio.fail_after(seconds):
        while name not in (variables := described(path)):
            await anyio.sleep(0.05)
    return variables


async def test_an_object_is_never_described_while_a_cell_runs(client: Client) -> None:
    path = await scope_file(client)
    await cell(client, PROBE)
    # An async cell leaves the kernel's event loop free while it waits: the feed must still wait.
    await cell(client, f"first = Probe()\nawait asyncio.sleep({STALE + 1})")
    await cell(client, f"second = Probe()\nawait asyncio.sleep({STALE + 1})")
    variables = await until_described(path, "second")
    assert variables["first"]["summary"] == variables["second"]["summary"] == "probe"
    assert await cell(client, "print(len(seen) >= 2, any(seen))") == "True False"


async def test_a_kernel_whose_cells_never_pause_is_still_described(client: Client) -> None:
    path = await scope_file(client)
    started, n = time.monotonic(), 0
    while time.monotonic() - started < STALE + 2:
        await cell(client, f"busy_{n} = {n}")
        n += 1
    variables = described(path)  # read at once: no pause has let the kernel go idle
    assert "busy_0" in variables
    assert variables["busy_0"]["summary"] == "0"


async def test_a_deleted_or_rebound_variable_is_shown_as_it_now_is(client: Client) -> None:
    path = await scope_file(client)
    await cell(client, "gone = [1, 2, 3]\nkept = 'old'")
    await until_described(path, "gone")
    await cell(client, "del gone\nkept = 'new text'\nlast = 1")
    variables = await until_described(path, "last")
    assert "gone" not in variables
    assert variables["kept"]["preview"] == {"kind": "text", "text": "new text", "chars": 8}


async def test_a_duckdb_relation_is_shown_by_its_columns_without_running_it(client: Client) -> None:
    path = await scope_file(client)
    await cell(client, "rel = sql('select 1 as a, 2 as b')\nrelation_marker = 1")
    variables = await until_described(path, "relation_marker")
    assert variables["rel"]["summary"] == "SQL relation; columns: a, b"
    assert variables["rel"]["size_bytes"] is None
    assert variables["rel"]["preview"] is None
