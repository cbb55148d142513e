"""Saving the scope after each cell, through a real client: one bad object never stops the rest, a
value slow to pickle never costs a cell, open files come back open, and a large value is written
again only when a cell changes it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import kill_kernel, run, settings, text_of
from mcp import Client

from memex_mcp.server import build_server

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
async def client(anyio_backend: str) -> AsyncIterator[Client]:
    async with Client(build_server(settings(timeout=30, interrupt_grace=1)), raise_exceptions=True) as c:
        yield c


async def manifest(client: Client) -> dict[str, Any]:
    """The committed checkpoint manifest; the call that finds it waits for the last cell's writes."""
    code = "__import__('memex_mcp.runtime.config').runtime.config.load().session_dir"
    session = Path(text_of(await run(client, code)).strip("'"))
    data: dict[str, Any] = json.loads((session / "checkpoint" / "manifest.json").read_text())
    return data


async def test_an_object_whose_attribute_lookup_raises_does_not_stop_later_checkpoints(client: Client) -> None:
    setup = await run(
        client,
        "class AttrDict(dict):\n    __getattr__ = dict.__getitem__\n"
        "cfg = AttrDict(lr=0.1)\nresults = [1, 2, 3]\n"
        "class Refuses:\n    def __getattr__(self, name):\n        raise KeyError(name)\n"
        "    def __reduce__(self):\n        raise KeyError('no state')\n"
        "refuses = Refuses()",
    )
    assert not setup.is_error
    assert not (await run(client, "model_scores = {'a': 0.9}")).is_error
    note = await kill_kernel(client)
    assert "refuses (Refuses: not picklable (KeyError: 'no state'))" in note
    check = await run(client, "cfg, cfg.lr, type(cfg).__name__, results, model_scores, 'refuses' in globals()")
    assert text_of(check) == "({'lr': 0.1}, 0.1, 'AttrDict', [1, 2, 3], {'a': 0.9}, False)"


async def test_open_files_come_back_open_where_they_were_and_sockets_are_named_as_not_restored(
    client: Client,
    tmp_path: Path,
) -> None:
    log, out, done = tmp_path / "log.txt", tmp_path / "out.bin", tmp_path / "done.txt"
    log.write_text("x" * 2**20 + "\n")
    setup = await run(
        client,
        f"import socket\nlog = open({str(log)!r}, 'r+')\nlog.seek(0, 2)\nlog.write('first\\n')\n"
        f"out = open({str(out)!r}, 'wb')\nout.write(b'abc')\n"
        f"with open({str(done)!r}, 'w') as done:\n    done.write('z')\n"
        "sock = socket.socket()",
    )
    assert not setup.is_error
    saved = await manifest(client)
    assert saved["variables"]["log"]["size"] < 1000  # the handle, never the file's megabyte
    note = await kill_kernel(client)
    assert (
        "sock (socket.socket: an open socket: network connections do not survive their kernel; connect again)"
    ) in note
    after = await run(
        client,
        "log.write('second\\n'); log.flush(); out.write(b'def'); out.flush()\n"
        "print(repr((type(log).__name__, log.mode, out.mode, done.closed, done.name)))",
    )
    assert text_of(after) == f"('TextIOWrapper', 'r+', 'rb+', True, {str(done)!r})"
    assert log.read_text() == "x" * 2**20 + "\nfirst\nsecond\n"
    assert out.read_bytes() == b"abcdef"


async def test_a_value_slow_to_pickle_never_fails_a_cell_and_comes_back_after_a_kill(anyio_backend: str) -> None:
    async with Client(build_server(settings(timeout=2, interrupt_grace=5)), raise_exceptions=True) as own:
        built = await run(
            own,
            "import time\nclass Slow:\n    def __init__(self, items):\n"
            "        self.items = items\n    def __reduce__(self):\n"
            "        time.sleep(3)  # longer than the cell's timeout\n"
            "        return (Slow, (self.items,))\n"
            "slow = Slow([1, 2, 3])\nother = 'kept'\nprint('built')",
        )
        assert not built.is_error, text_of(built)
        assert text_of(built) == "built"
        # The next request waits for the writes; list_scope has no timeout of its own.
        with anyio.fail_after(30):
            await own.call_tool("list_scope", {})
        for i in range(3):
            cell = await run(own, f"print('cell {i}', len(slow.items))")
            assert not cell.is_error, text_of(cell)
            assert text_of(cell) == f"cell {i} 3"
        await kill_kernel(own)
        assert text_of(await run(own, "slow.items, other")) == "([1, 2, 3], 'kept')"


async def test_a_large_dataframe_is_rewritten_when_a_cell_changes_it_not_when_one_reads_it(
    anyio_backend: str,
) -> None:
    async with Client(build_server(settings(timeout=30, checkpoint_max_bytes=2**20)), raise_exceptions=True) as own:
        # 2.4 MB, over the 1 MB limit: kept as Parquet.
        await run(own, "import numpy as np, pandas as pd\ndf = pd.DataFrame({'a': np.arange(300_000.0)})")
        first = (await manifest(own))["variables"]["df"]
        assert first["format"] == "parquet-pandas"
        for code in (
            "len(df)",
            "df.head()",
            "print(df.describe())",
            "df.groupby('a').size().shape",
            "sql('select count(*) from df')",
        ):
            assert not (await run(own, code)).is_error
            assert (await manifest(own))["variables"]["df"]["file"] == first["file"]
        await run(own, "df['x'] = 1")
        assert (await manifest(own))["variables"]["df"]["file"] != first["file"]
        await run(own, "df.drop(columns=['a'], inplace=True)")
        await kill_kernel(own)
        assert text_of(await run(own, "list(df.columns), int(df['x'].sum())")) == "(['x'], 300000)"
