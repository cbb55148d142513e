"""`--session NAME` across server launches, and clients that cancel or go away mid-execution."""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import run, settings, text_of, wait_exit
from mcp import Client

from memex_mcp.server import build_server

pytestmark = pytest.mark.anyio


async def test_a_named_session_comes_back_with_its_variables_and_history_in_the_next_server(
    anyio_backend: str,
) -> None:
    name = f"again-{uuid.uuid4().hex[:8]}"
    with anyio.fail_after(60):
        async with Client(build_server(settings(session=name)), raise_exceptions=True) as first:
            fresh = await run(
                first,
                "kept = {'a': [1, 2]}\nsql('create table kept_t as select 7 as v')\n"
                "query = sql('select v from kept_t')\nprint('said in the first server')",
            )
            assert text_of(fresh) == "said in the first server"  # a new session has nothing to restore
        async with Client(build_server(settings(session=name)), raise_exceptions=True) as second:
            text = text_of(await run(second, "kept, history[0].output, sql('select v from kept_t').fetchall()"))
            assert text == (
                f"[memex] restored session {name}: 1 variable(s) (kept) and 1 execution(s) of history, as of "
                "execution [1]; tables are kept in its database; not restored: query (duckdb._relation."
                "DuckDBPyRelation: a DuckDB object: tables persist in the session database; re-run the query).\n"
                "({'a': [1, 2]}, 'said in the first server\\n', [(7,)])"
            )
            assert text_of(await run(second, "kept")) == "{'a': [1, 2]}"  # said once, on the first result


class Server:
    """`python -m memex_mcp ARGS` as a bare subprocess, spoken to in JSON lines."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "memex_mcp", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._next_id = 0
        self.request(
            "initialize",
            {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
        )
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        self.proc.stdin.flush()

    def start(self, method: str, params: dict[str, Any]) -> int:
        self._next_id += 1
        self.send({"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params})
        return self._next_id

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        request_id = self.start(method, params)
        return self.read_until(lambda message: message.get("id") == request_id)

    def read_until(self, wanted: Any) -> dict[str, Any]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], deadline - time.monotonic())
            line = self.proc.stdout.readline() if ready else b""
            assert line, "the server did not answer"
            message: dict[str, Any] = json.loads(line)
            if wanted(message):
                return message
        raise AssertionError("no reply in time")

    def run(self, code: str) -> str:
        reply = self.request("tools/call", {"name": "execute_code", "arguments": {"code": code}})
        return str(reply["result"]["content"][0]["text"])

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def test_a_server_killed_with_sigkill_comes_back_with_the_same_session_and_state_dir(tmp_path: Path) -> None:
    args = ("--session", "killed", "--state-dir", str(tmp_path))
    first = Server(*args)
    try:
        output = first.run("import os\nnumbers = [1, 2, 3]\nprint('before the kill')\nos.getpid()")
        kernel = int(output.splitlines()[-1])
        first.kill()  # SIGKILL: no shutdown, no last checkpoint
        assert wait_exit(kernel)  # the orphaned kernel notices and leaves (it would hold the session's files)
    finally:
        first.kill()
    second = Server(*args)
    try:
        text = second.run("numbers, history[0].output")
        assert text.startswith("[memex] restored session killed: 2 variable(s) (numbers, os) and 1 execution(s)")
        assert "in use by another" not in text  # the killed server's lock went with it
        assert text.endswith(f"([1, 2, 3], 'before the kill\\n{kernel}\\n')")
    finally:
        second.kill()


def test_a_cancelled_call_over_stdio_stops_its_execution_and_the_server_keeps_serving(tmp_path: Path) -> None:
    server = Server("--state-dir", str(tmp_path))
    try:
        server.run("import time\nticks = 0")
        loop = server.start(
            "tools/call",
            {
                "name": "execute_code",
                "_meta": {"progressToken": "loop"},
                "arguments": {
                    "code": "while True:\n    ticks += 1\n    print('looping', flush=True)\n    time.sleep(0.01)"
                },
            },
        )
        # Its first output arrives as progress: the loop is running.
        server.read_until(lambda message: message.get("method") == "notifications/progress")
        server.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": loop}})
        # The kernel runs one execution at a time: this one runs only once the loop has stopped.
        after = server.run("ticks > 0, history[-1].code.startswith('while True'), history[-1].failed")
        assert after == "(True, True, True)"
    finally:
        server.kill()


def test_a_client_that_goes_away_mid_execution_stops_the_server_and_its_kernel(tmp_path: Path) -> None:
    server = Server("--state-dir", str(tmp_path))
    try:
        kernel = int(server.run("import os\nos.getpid()"))
        server.start("tools/call", {"name": "execute_code", "arguments": {"code": "while True:\n    pass"}})
        assert server.proc.stdin is not None
        server.proc.stdin.close()
        assert server.proc.wait(timeout=30) == 0
        assert wait_exit(kernel)
    finally:
        server.kill()


def test_a_second_server_on_a_session_in_use_says_so_and_writes_no_checkpoints(tmp_path: Path) -> None:
    args = ("--session", "busy", "--state-dir", str(tmp_path))
    first = Server(*args)
    try:
        first.run("mine = 'first'")
        second = Server(*args)
        try:
            text = second.run("theirs = 'second'\nmine")  # what the first one checkpointed comes back
            assert text == (
                "[memex] restored session busy: 1 variable(s) (mine) and 1 execution(s) of history, as of "
                "execution [1]; tables are kept in its database.\n"
                "[memex] session busy is in use by another memex-mcp process: this one writes no checkpoints, "
                "so its variables will not come back after a restart. Use another --session name to keep them.\n"
                "'first'"
            )
        finally:
            second.kill()
        assert first.run("mine = 'still first'\nmine") == "'still first'"
    finally:
        first.kill()
    third = Server(*args)  # the lock went with the first server; the second one wrote nothing
    try:
        assert third.run("mine, 'theirs' in globals()").endswith("('still first', False)")
    finally:
        third.kill()


async def test_an_in_process_client_that_goes_away_mid_execution_stops_its_kernel(anyio_backend: str) -> None:
    running = anyio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        running.set()

    with anyio.fail_after(60):
        async with Client(build_server(settings()), raise_exceptions=True) as client:
            kernel = int(text_of(await run(client, "__import__('os').getpid()")))
            session = text_of(
                await run(client, "__import__('memex_mcp.runtime.config').runtime.config.load().session_dir")
            ).strip("'")
            busy = {"code": "while True:\n    print('busy', flush=True)\n    __import__('time').sleep(0.01)"}
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(client.call_tool, "execute_code", busy, None, on_progress)
                await running.wait()
                tasks.cancel_scope.cancel()  # the client leaves with its call still running
        assert await anyio.to_thread.run_sync(wait_exit, kernel)
        assert not Path(session).exists()


async def test_a_named_session_that_only_printed_comes_back_with_its_history(anyio_backend: str) -> None:
    name = f"printed-{uuid.uuid4().hex[:8]}"
    with anyio.fail_after(60):
        async with Client(build_server(settings(session=name)), raise_exceptions=True) as first:
            await run(first, "print('no variables here')")
        async with Client(build_server(settings(session=name)), raise_exceptions=True) as second:
            text = text_of(await run(second, "[(e.number, e.output) for e in history]"))
    assert text == (
        f"[memex] restored session {name}: 0 variable(s) and 1 execution(s) of history, as of "
        "execution [1]; tables are kept in its database.\n"
        "[(1, 'no variables here\\n')]"
    )
