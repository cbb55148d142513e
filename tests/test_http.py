"""The team server: streamable HTTP on loopback, a scratchpad per client, tokens, isolation, limits.

Each test talks to a real `memex-mcp --transport http` process through the SDK's HTTP client, in
both protocol revisions: 2025-11-25 (`mode="legacy"`, an MCP session per client) and 2026-07-28
(`mode="auto"`, no protocol session; state travels in the `scratchpad` handle)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from conftest import settings, text_of
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from test_downstream import SERVER as DOWNSTREAM
from test_sampling import COMPLETE, answer

from memex_mcp.server import build_server

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(240)]

TOKENS = {"alice": "alice-token-0123456789abcdef", "bob": "bob-token-0123456789abcdefgh"}
REVISIONS = ["legacy", "auto"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, state_dir: Path, *options: str) -> None:
        self.state_dir = state_dir
        self.options = options
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        tokens = self.state_dir.parent / "tokens.json"
        tokens.write_text(json.dumps(TOKENS))
        self.log = open(self.state_dir.parent / f"server-{self.port}.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "memex_mcp", "--transport", "http", "--port", str(self.port)),
                *("--state-dir", str(self.state_dir), "--tokens", str(tokens), "--log-json", *self.options),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.stderr()
            try:
                if httpx2.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx2.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"the server did not answer within 60 s:\n{self.stderr()}")

    def stderr(self) -> str:
        return (self.state_dir.parent / f"server-{self.port}.log").read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        assert self.process is not None
        self.process.send_signal(sig)
        self.process.wait(timeout=60)
        self.log.close()


@contextmanager
def serving(state_dir: Path, *options: str) -> Iterator[Server]:
    server = Server(state_dir, *options).start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(tmp_path_factory.mktemp("http") / "state") as s:
        yield s


@asynccontextmanager
async def connect(server: Server, principal: str, mode: str, token: str | None = None) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token or TOKENS[principal]}"}
    async with (
        create_mcp_http_client(headers=headers) as http,
        Client(streamable_http_client(server.url, http_client=http), mode=mode, raise_exceptions=True) as client,  # type: ignore[arg-type]
    ):
        yield client


async def call(client: Client, tool: str, **arguments: Any) -> tuple[str, bool]:
    result = await client.call_tool(tool, arguments)
    return text_of(result), bool(result.is_error)


def handle_in(text: str) -> str:
    line = next(line for line in text.splitlines() if line.startswith("scratchpad: "))
    return line.removeprefix("scratchpad: ")


@pytest.mark.parametrize("mode", REVISIONS)
async def test_two_principals_never_see_each_others_variables_tables_or_history(server: Server, mode: str) -> None:
    async with connect(server, "alice", mode) as alice, connect(server, "bob", mode) as bob:
        code = f"secret_{mode} = 42\nsql('create table t_{mode} as select 1 x')"
        text, _ = await call(alice, "execute_code", code=code)
        alice_handle = handle_in(text)
        text, _ = await call(bob, "execute_code", code=f"print('secret_{mode}' in globals())")
        assert text.startswith("False")
        bob_handle = handle_in(text)
        assert bob_handle != alice_handle
        text, _ = await call(bob, "execute_code", code=f"print(sql('select count(*) from t_{mode}'))")
        assert f"t_{mode}" in text and "does not exist" in text
        text, _ = await call(bob, "execute_code", code="print(len(_outputs))")
        assert "secret" not in text
        listing, _ = await call(bob, "list_scope")
        assert f"secret_{mode}" not in listing
        # Alice's own scratchpad still has it, under the same handle.
        text, _ = await call(alice, "execute_code", code=f"print(secret_{mode})")
        assert text.startswith("42") and handle_in(text) == alice_handle


@pytest.mark.parametrize("mode", REVISIONS)
async def test_a_foreign_or_guessed_handle_gets_the_same_error_as_a_missing_one(server: Server, mode: str) -> None:
    async with connect(server, "alice", mode) as alice, connect(server, "bob", mode) as bob:
        alice_handle = handle_in((await call(alice, "execute_code", code="mine = 1"))[0])
        foreign, foreign_error = await call(bob, "execute_code", code="print(mine)", scratchpad=alice_handle)
        guessed, guessed_error = await call(bob, "execute_code", code="print(1)", scratchpad="sp-0000000000000000")
        assert foreign_error and guessed_error
        assert foreign.replace(alice_handle, "H") == guessed.replace("sp-0000000000000000", "H")
        assert "no scratchpad" in foreign and "nothing was run" in foreign
        # The owner may name it.
        text, error = await call(alice, "list_scope", scratchpad=alice_handle)
        assert not error and "mine" in text


async def test_a_client_without_a_session_keeps_its_scratchpad_by_handle(server: Server) -> None:
    async with connect(server, "alice", "auto") as first:
        text, _ = await call(first, "execute_code", code="kept = 'across clients'")
        default = handle_in(text)
    # A new client of the same principal, no session: the principal's default scratchpad.
    async with connect(server, "alice", "auto") as second:
        text, _ = await call(second, "execute_code", code="print(kept)")
        assert text.startswith("across clients") and handle_in(text) == default


async def test_each_legacy_session_has_a_scratchpad_of_its_own(server: Server) -> None:
    async with connect(server, "bob", "legacy") as one, connect(server, "bob", "legacy") as two:
        await call(one, "execute_code", code="only_in_one = 1")
        text, _ = await call(two, "execute_code", code="print('only_in_one' in globals())")
        assert text.startswith("False")


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer wrong-token-0123456789abcdef"}, 401),
        ({"Authorization": f"Bearer {TOKENS['alice']}", "Origin": "http://evil.example"}, 403),
        ({"Authorization": f"Bearer {TOKENS['alice']}", "Host": "evil.example"}, 421),
    ],
)
def test_requests_without_a_token_or_from_a_foreign_origin_or_host_are_rejected(
    server: Server, headers: dict[str, str], status: int
) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    response = httpx2.post(
        server.url,
        json=body,
        headers={"Accept": "application/json, text/event-stream", "Content-Type": "application/json", **headers},
    )
    assert response.status_code == status
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_an_unknown_session_id_is_404_and_an_oversized_body_413(server: Server) -> None:
    headers = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "Authorization": f"Bearer {TOKENS['alice']}",
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    gone = httpx2.post(server.url, json=body, headers={**headers, "mcp-session-id": "0" * 32})
    assert gone.status_code == 404
    big = {**body, "params": {"padding": "x" * (5 * 2**20)}}
    assert httpx2.post(server.url, json=big, headers=headers).status_code == 413


async def test_metrics_need_the_token_and_count_calls(server: Server) -> None:
    async with connect(server, "bob", "auto") as bob:
        await call(bob, "execute_code", code="print(1)")
    assert httpx2.get(f"http://127.0.0.1:{server.port}/metrics").status_code == 401
    response = httpx2.get(
        f"http://127.0.0.1:{server.port}/metrics", headers={"Authorization": f"Bearer {TOKENS['bob']}"}
    )
    assert response.status_code == 200
    assert "memex_scratchpads_live" in response.text
    assert 'memex_calls_total{outcome="ok",tool="execute_code"}' in response.text


async def test_the_log_names_principal_tool_and_outcome_never_code_or_tokens(server: Server) -> None:
    async with connect(server, "alice", "auto") as alice:
        await call(alice, "execute_code", code="secret_logged = 'never in the log'")
    lines = [json.loads(line) for line in server.stderr().splitlines() if line.startswith("{")]
    calls = [line for line in lines if line.get("event") == "call"]
    assert any({"principal": "alice", "tool": "execute_code", "outcome": "ok"}.items() <= c.items() for c in calls)
    assert any(line.get("event") == "created" for line in lines)
    log = server.stderr()
    assert "kernels confined with " in log  # HTTP confines kernels by default, and says how
    assert (
        "secret_" not in log
        and "never in the log" not in log
        and TOKENS["alice"] not in log
        and TOKENS["bob"] not in log
    )


def test_a_non_loopback_bind_without_a_token_exits_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MEMEX_TOKEN"}
    result = subprocess.run(
        [sys.executable, "-m", "memex_mcp", "--transport", "http", "--host", "0.0.0.0", "--state-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--tokens" in result.stderr and "MEMEX_TOKEN" in result.stderr


async def test_over_the_limit_a_new_scratchpad_is_a_clear_error(tmp_path: Path) -> None:
    with serving(tmp_path / "state", "--max-sessions", "1") as server:
        async with connect(server, "alice", "auto") as alice, connect(server, "bob", "auto") as bob:
            text, error = await call(alice, "execute_code", code="print('in')")
            assert not error and text.startswith("in")
            text, error = await call(bob, "execute_code", code="print('in')")
            assert error and "limit of 1 scratchpads" in text and "--max-sessions" in text
            # The one that runs is unaffected.
            text, error = await call(alice, "execute_code", code="print('still')")
            assert not error and text.startswith("still")


async def test_an_idle_scratchpad_is_stopped_and_comes_back_restored(tmp_path: Path) -> None:
    with serving(tmp_path / "state", "--idle-timeout", "2") as server:
        async with connect(server, "alice", "legacy") as alice:
            await call(alice, "execute_code", code="survivor = [1, 2, 3]")
            assert live_kernels(server) == 1
            deadline = time.monotonic() + 60
            while live_kernels(server):
                assert time.monotonic() < deadline, "the idle kernel was not stopped"
                time.sleep(0.2)
            text, _ = await call(alice, "execute_code", code="print(survivor)")
            assert "[1, 2, 3]" in text
            assert "stopped after 2 s without calls" in text and "restored" in text


def live_kernels(server: Server) -> int:
    metrics = httpx2.get(
        f"http://127.0.0.1:{server.port}/metrics", headers={"Authorization": f"Bearer {TOKENS['alice']}"}
    ).text
    line = next(line for line in metrics.splitlines() if line.startswith("memex_kernels_live "))
    return int(float(line.split()[1]))


@pytest.mark.parametrize("mode", REVISIONS)
async def test_after_the_server_is_killed_a_returning_client_gets_its_scope_back(tmp_path: Path, mode: str) -> None:
    state = tmp_path / "state"
    with serving(state) as server:
        async with connect(server, "alice", mode) as alice:
            text, _ = await call(alice, "execute_code", code="durable = {'a': 1}")
            handle = handle_in(text)
            # A cell's changes are checkpointed after its reply, before the next call runs.
            await call(alice, "execute_code", code="pass")
        server.stop(signal.SIGKILL)
    with serving(state) as server:
        async with connect(server, "alice", mode) as alice:
            arguments = {"scratchpad": handle} if mode == "auto" else {}
            text, error = await call(alice, "execute_code", code="print(durable)", **arguments)
            assert not error and "{'a': 1}" in text
            assert handle in text and ("restored" in text or "continues" in text)


async def test_a_legacy_session_samples_from_its_own_clients_model(server: Server) -> None:
    headers = {"Authorization": f"Bearer {TOKENS['alice']}"}
    async with (
        create_mcp_http_client(headers=headers) as http,
        Client(streamable_http_client(server.url, http_client=http), mode="legacy", sampling_callback=answer) as client,
    ):
        text, error = await call(client, "execute_code", code=COMPLETE)
    assert not error and text.startswith("'hi from the client' 12 4\navailable: True")


async def test_downstream_servers_are_shared_and_each_result_goes_to_its_caller(tmp_path: Path) -> None:
    config = tmp_path / "servers.json"
    config.write_text(json.dumps({"mcpServers": {"t": {"command": sys.executable, "args": [DOWNSTREAM]}}}))
    with serving(tmp_path / "state", "--mcp-config", str(config)) as server:
        async with connect(server, "alice", "auto") as alice, connect(server, "bob", "auto") as bob:
            code = "print(tools.t.pid(), tools.t.echo(text={who!r}, delay=0.5))"
            (a, _), (b, _) = await asyncio.gather(
                call(alice, "execute_code", code=code.format(who="for alice")),
                call(bob, "execute_code", code=code.format(who="for bob")),
            )
    assert "for alice" in a and "for bob" not in a
    assert "for bob" in b and "for alice" not in b
    assert a.split()[0] == b.split()[0]  # one downstream process serves both


async def test_over_http_every_tool_takes_a_scratchpad_and_over_stdio_none_does(server: Server) -> None:
    async with connect(server, "alice", "auto") as client:
        over_http = (await client.list_tools()).tools
        # An explicit null is the default, as leaving the argument out: the caller's own scratchpad.
        text, error = await call(client, "execute_code", code="print('mine')", scratchpad=None)
        assert not error and "mine" in text.splitlines() and handle_in(text).startswith("sp-")
    async with Client(build_server(settings())) as client:
        over_stdio = (await client.list_tools()).tools
    assert all(
        t.input_schema["properties"]["scratchpad"]
        == {"description": "Handle of a scratchpad to work in (default: yours).", "type": "string"}
        for t in over_http
    )
    assert not any("scratchpad" in t.input_schema["properties"] for t in over_stdio)
    assert {t.name for t in over_http} == {t.name for t in over_stdio}
