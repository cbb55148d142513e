"""The real program over real stdio: `python -m memex_mcp` as an MCP client launches it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import STATE_DIR, run, text_of, wait_exit
from mcp import Client, StdioServerParameters

pytestmark = pytest.mark.anyio

SERVER = StdioServerParameters(command=sys.executable, args=["-m", "memex_mcp", "--output-limit", "1000"])


@pytest.mark.parametrize(("mode", "revision"), [("legacy", "2025-11-25"), ("auto", "2026-07-28")])
async def test_a_session_over_stdio_in_both_protocol_revisions(mode: str, revision: str) -> None:
    with anyio.fail_after(60):
        async with Client(SERVER, mode=mode) as client:
            assert client.protocol_version == revision
            await run(client, "import subprocess\nnumbers = [n * n for n in range(10)]")
            # Descriptor-level writes from the kernel and its children must not reach the MCP stream.
            noisy = await run(
                client, "import os\nos.write(1, b'fd one\\n')\nsubprocess.run(['echo', 'child'])\nprint(sum(numbers))"
            )
            assert not noisy.is_error
            assert set(text_of(noisy).splitlines()) >= {"fd one", "child", "285"}
            big = await run(client, "print('z' * 100_000)")
            assert len(text_of(big)) <= 1000 and "_outputs[" in text_of(big)
            assert text_of(await run(client, "numbers[-1]")) == "81"


class RawSession:
    """The server as a bare subprocess, spoken to in JSON lines: stdout is checked line by line."""

    def __init__(self) -> None:
        # A temporary directory of its own: the kernels' connection files in it are this server's alone.
        self.tmp = Path(tempfile.mkdtemp(prefix="memex-raw-"))
        self.proc = subprocess.Popen(
            [SERVER.command, *SERVER.args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "TMPDIR": str(self.tmp)},
        )
        self.replies: dict[int, dict[str, Any]] = {}
        self._next_id = 1

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        request_id, self._next_id = self._next_id, self._next_id + 1
        self._send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 60
        while request_id not in self.replies and time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            assert line, "the server closed stdout"
            message = json.loads(line)  # every line on stdout is a JSON-RPC message
            assert message["jsonrpc"] == "2.0"
            if "id" in message:
                self.replies[message["id"]] = message
        return self.replies[request_id]

    def initialize(self) -> dict[str, Any]:
        reply = self.request(
            "initialize",
            {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
        )
        self._send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return reply

    def run(self, code: str) -> str:
        reply = self.request("tools/call", {"name": "execute_code", "arguments": {"code": code}})
        return str(reply["result"]["content"][0]["text"])

    def _send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _connection_file(pid: int) -> Path:
    with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
        args = cmdline.read().decode().split("\0")
    return Path(args[args.index("-f") + 1])


def _assert_gone(kernel_pid: int, connection_file: Path, server_pid: int) -> None:
    """The kernel has exited, and the server left neither its connection file nor its session dir."""
    assert wait_exit(kernel_pid, 10)
    assert not connection_file.exists()
    assert not list((STATE_DIR / "sessions").glob(f".ephemeral-{server_pid}-*"))


def test_stdout_carries_only_json_rpc_and_the_kernel_stops_with_the_server() -> None:
    session = RawSession()
    try:
        assert session.initialize()["result"]["protocolVersion"] == "2025-11-25"
        text = session.run(
            "import os, subprocess\nos.write(1, b'noise\\n')\n"
            "subprocess.run('echo child; echo err >&2', shell=True)\nos.getpid()"
        )
        assert "noise" in text and "child" in text and "err" in text, text
        assert text.splitlines()[-1].isdigit(), text
        kernel_pid = int(text.splitlines()[-1])
        connection_file = _connection_file(kernel_pid)
        assert session.proc.stdin is not None
        session.proc.stdin.close()  # the client goes away: the server must exit and take its kernel along
        assert session.proc.wait(timeout=30) == 0
        _assert_gone(kernel_pid, connection_file, session.proc.pid)
    finally:
        session.kill()


def test_sigterm_stops_the_server_and_its_kernel() -> None:
    started = time.time()
    session = RawSession()
    try:
        session.initialize()
        kernel_pid = int(session.run("import os\nos.getpid()"))
        connection_file = _connection_file(kernel_pid)
        session.proc.send_signal(signal.SIGTERM)
        assert session.proc.wait(timeout=30) == 0
        _assert_gone(kernel_pid, connection_file, session.proc.pid)
        # and no replacement kernel was started on the way out
        assert connection_file.parent == session.tmp
        assert not [f for f in session.tmp.glob("tmp*.json") if f.stat().st_mtime > started]
    finally:
        session.kill()
