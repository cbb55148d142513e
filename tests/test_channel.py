"""The kernel's channel to the server: concurrent requests from threads, also while a cell blocks."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import run, settings, text_of
from mcp import Client, types
from mcp.client.session import ClientRequestContext

from memex_mcp.runtime.channel import Channel, ChannelError, ChannelTimeout
from memex_mcp.server import build_server
from memex_mcp.server.channel import ChannelServer, socket_path
from memex_mcp.server.lifecycle import Lifecycle
from memex_mcp.server.session import SessionDir

pytestmark = pytest.mark.anyio

THREADS = 8  # as in MANY

# Each thread asks the client's model through the channel while the cell's own thread waits in
# join(): the cell cannot end before every reply arrived.
MANY = """\
import threading
from memex_mcp.runtime.models.base import Message, Request
from memex_mcp.runtime.models.sampling import SamplingModel
answers = {}
def ask(i):
    answers[i] = SamplingModel().complete(Request([Message("user", f"question {i}")])).text
threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(sorted(answers.items()))
"""


async def test_many_threads_of_a_blocked_cell_get_their_own_answers_at_once(anyio_backend: str) -> None:
    arrived: list[str] = []
    everyone = anyio.Event()

    async def answer_when_all_asked(
        context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        content = params.messages[0].content
        assert isinstance(content, types.TextContent)
        arrived.append(content.text)
        if len(arrived) == THREADS:
            everyone.set()
        await everyone.wait()  # every request is outstanding at the same time
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=content.text.replace("question", "answer")),
            model="m",
        )

    async with Client(
        build_server(settings(timeout=60)),
        raise_exceptions=True,
        mode="legacy",
        sampling_callback=answer_when_all_asked,
    ) as client:
        with anyio.fail_after(60):
            result = await run(client, MANY)
    assert not result.is_error, text_of(result)
    assert text_of(result) == str([(i, f"answer {i}") for i in range(THREADS)])
    assert sorted(arrived) == [f"question {i}" for i in range(THREADS)]


async def test_kernel_code_gets_the_servers_error_for_an_unknown_method(anyio_backend: str) -> None:
    code = (
        "from memex_mcp.runtime import channel\n"
        "try:\n    channel.default().call('no.such.method')\n"
        "except channel.ChannelError as exc:\n    print(exc)"
    )
    async with Client(build_server(settings()), raise_exceptions=True) as client:
        with anyio.fail_after(60):
            assert text_of(await run(client, code)) == "The server has no channel method 'no.such.method'."


class Stuck:
    """A handler that answers only when released, and remembers being cancelled."""

    def __init__(self) -> None:
        self.started = anyio.Event()
        self.cancelled = anyio.Event()

    async def __call__(self, params: dict[str, Any]) -> Any:
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


@pytest.fixture
def path() -> Iterator[Path]:
    path = socket_path()
    assert path is not None
    yield path
    shutil.rmtree(path.parent, ignore_errors=True)


async def started(path: Path, **handlers: Any) -> ChannelServer:
    server = ChannelServer(path, handlers)
    await server.start()
    return server


async def test_a_waiting_call_fails_clearly_when_the_server_goes_away(anyio_backend: str, path: Path) -> None:
    stuck = Stuck()

    async def echo(params: dict[str, Any]) -> Any:
        return params

    server = await started(path, stuck=stuck, echo=echo)
    line = Channel(str(server.path))
    with anyio.fail_after(30):
        assert await anyio.to_thread.run_sync(line.call, "echo", {"a": [1, 2]}) == {"a": [1, 2]}
        async with anyio.create_task_group() as tg:
            errors: list[str] = []

            async def waiting_call() -> None:
                try:
                    await anyio.to_thread.run_sync(line.call, "stuck")
                except ChannelError as exc:
                    errors.append(str(exc))

            tg.start_soon(waiting_call)
            await stuck.started.wait()
            await server.close()
        assert errors == [
            "The server closed the line before it answered: the memex server is gone (it stopped or "
            "was restarted), so nothing that needs it can work now."
        ]
        assert stuck.cancelled.is_set()
        with pytest.raises(ChannelError, match=r"^Cannot reach the server at .*: the memex server is gone"):
            await anyio.to_thread.run_sync(line.call, "echo")


async def test_a_call_that_times_out_is_cancelled_on_the_server(anyio_backend: str, path: Path) -> None:
    stuck = Stuck()
    server = await started(path, stuck=stuck)
    try:
        line = Channel(str(server.path))
        with anyio.fail_after(30):
            with pytest.raises(ChannelTimeout, match=r"did not answer stuck within 0\.2 s"):
                await anyio.to_thread.run_sync(lambda: line.call("stuck", timeout=0.2))
            await stuck.cancelled.wait()
    finally:
        await server.close()


def test_a_kernel_without_a_server_is_told_so() -> None:
    with pytest.raises(ChannelError, match="not started by a memex server"):
        Channel(None).call("sampling.available")


def test_the_socket_path_fits_the_unix_limit_and_its_directory_is_private(path: Path) -> None:
    assert len(str(path).encode()) < 100
    assert path.parent.stat().st_mode & 0o777 == 0o700


def test_socket_directories_of_dead_servers_are_removed_when_a_session_starts(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = Path(tempfile.gettempdir()) / f"memex-ch-{int(dead.stdout)}-test"
    orphan.mkdir()
    session = SessionDir(settings())
    try:
        assert not orphan.exists()
        assert session.channel is not None and session.channel.parent.is_dir()
    finally:
        session.close()
    assert not session.channel.parent.exists()


async def test_a_server_leaving_without_cleanup_removes_its_sessions_socket_directories_first() -> None:
    lifecycle = Lifecycle()
    session = SessionDir(settings(), lifecycle)
    assert session.channel is not None and session.channel.parent.is_dir()
    await lifecycle.stop()
    assert not session.channel.parent.exists()
