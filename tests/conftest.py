from __future__ import annotations

import os
import select
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import CallToolResult, TextContent

from memex_mcp.server import Settings, build_server

#: Every server of the test run, in process or launched, keeps its state here, not in the user's.
STATE_DIR = Path(tempfile.mkdtemp(prefix="memex-tests-"))
os.environ["MEMEX_STATE_DIR"] = str(STATE_DIR)
#: No test reaches a real model unless it opts in (kernels inherit this; see runtime/models/guard.py).
os.environ["MEMEX_ALLOW_MODEL_REQUESTS"] = "0"


def pytest_unconfigure() -> None:
    shutil.rmtree(STATE_DIR, ignore_errors=True)


def settings(**options: Any) -> Settings:
    # MEMEX_TEST_SANDBOX=landlock (or bubblewrap) runs every in-process test with confined kernels.
    options.setdefault("sandbox", os.environ.get("MEMEX_TEST_SANDBOX", "none"))
    return Settings(state_dir=STATE_DIR, **options)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def client(anyio_backend: str) -> AsyncIterator[Client]:
    """One server and kernel per test module: starting a kernel costs about half a second."""
    async with Client(
        build_server(settings(timeout=30, interrupt_grace=2, output_limit=2000)), raise_exceptions=True
    ) as c:
        yield c


def wait_exit(pid: int, seconds: float = 15) -> bool:
    """Whether `pid` exits within `seconds` (True at once if it is gone), waiting on its exit itself."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], seconds)[0])
    finally:
        os.close(fd)


def process_alive(pid: int) -> bool:
    """Whether `pid` runs; a zombie is dead too."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"


def text_of(result: CallToolResult) -> str:
    first = result.content[0]
    assert isinstance(first, TextContent)
    return first.text


async def run(client: Client, code: str, **arguments: object) -> CallToolResult:
    return await client.call_tool("execute_code", {"code": code, **arguments})


async def cell(client: Client, code: str) -> str:
    """Run `code`, which must succeed within a minute; its text."""
    with anyio.fail_after(60):
        result = await run(client, code)
    text = text_of(result)
    assert not result.is_error, text
    return text


#: Kernel code whose value is the kernel's process id.
PID = "__import__('os').getpid()"


async def kill(pid: int) -> None:
    """SIGKILL `pid` and wait until it has exited (a kill that races the next call is another test)."""
    fd = os.pidfd_open(pid)
    try:
        os.kill(pid, signal.SIGKILL)
        with anyio.fail_after(10):
            await anyio.wait_readable(fd)
    finally:
        os.close(fd)


async def kill_kernel(client: Client) -> str:
    """Kill the kernel between calls; returns the text of the next call's result (its note)."""
    await kill(int(text_of(await run(client, PID))))
    with anyio.fail_after(30):
        return text_of(await run(client, "'next'"))
