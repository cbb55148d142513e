"""The session directory a kernel is given, and progress the runtime reports while a cell waits."""

from __future__ import annotations

import itertools

import anyio
import pytest
from conftest import STATE_DIR, run, settings, text_of
from mcp import Client

from memex_mcp.server import build_server

pytestmark = pytest.mark.anyio


async def test_an_unnamed_session_has_its_own_directory_until_it_closes(anyio_backend: str) -> None:
    async with Client(build_server(settings()), raise_exceptions=True) as client:
        code = "from memex_mcp.runtime import config\nprint(config.load().session_dir)"
        path = anyio.Path(text_of(await run(client, code)))
        assert await path.is_dir()
        assert path.parent == anyio.Path(STATE_DIR / "sessions")
    assert not await path.exists()


async def test_a_named_session_keeps_its_directory(anyio_backend: str) -> None:
    async with Client(build_server(settings(session="kept-one")), raise_exceptions=True) as client:
        code = "from memex_mcp.runtime import config\nprint(config.load().session_dir)"
        assert text_of(await run(client, code)) == str(STATE_DIR / "sessions" / "kept-one")
    assert (STATE_DIR / "sessions" / "kept-one").is_dir()


async def test_progress_the_runtime_reports_becomes_notifications_not_output(client: Client) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    # Two waits in one cell, each counting from 1. The throttle, and the values that keep growing
    # across the two, are tested on a fake clock (test_progress_clock.py); here the first report
    # goes through at once, as it was reported, and none becomes output.
    reports = ["index 1 of 2", "index 2 of 2", "agents 1 of 2", "agents 2 of 2"]
    code = (
        "from memex_mcp.runtime.progress import report_progress\n"
        "for phase in ('index', 'agents'):\n    for i in (1, 2):\n"
        "        report_progress(i, 2, f'{phase} {i} of 2')"
    )
    result = await client.call_tool("execute_code", {"code": code}, progress_callback=on_progress)
    assert text_of(result) == "(no output)"
    assert seen[0] == (1, 2, "index 1 of 2")
    messages = [message for _, _, message in seen]
    assert messages == sorted(set(messages), key=reports.index)
    values = [progress for progress, _, _ in seen]
    assert all(a < b for a, b in itertools.pairwise(values))
    assert all(total is not None and total >= progress for progress, total, _ in seen)
