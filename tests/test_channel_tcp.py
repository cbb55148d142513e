"""The kernel's channel over TCP (`--channel-address`): kernel code reaches the server, strangers do not."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import anyio
import pytest
from conftest import run, settings, text_of
from mcp import Client, types
from mcp.client.session import ClientRequestContext

from memex_mcp.server import build_server
from memex_mcp.server.session import SessionDir

pytestmark = pytest.mark.anyio

ASK = """\
from memex_mcp.runtime.models.base import Message, Request
from memex_mcp.runtime.models.sampling import SamplingModel
print(SamplingModel().complete(Request([Message("user", "Say hi.")])).text)
"""

ADDRESS = """\
from memex_mcp.runtime.runtime import current
print(current().config.channel, current().config.channel_secret)
"""

asked: list[str] = []


async def answer(context: ClientRequestContext, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    content = params.messages[0].content
    assert isinstance(content, types.TextContent)
    asked.append(content.text)
    return types.CreateMessageResult(
        role="assistant", content=types.TextContent(type="text", text=f"answer to {content.text}"), model="m"
    )


@pytest.fixture(scope="module")
async def client(anyio_backend: str) -> AsyncIterator[Client]:
    # Unconfined: a confined local kernel has no TCP (kernels that use this run on other hosts).
    server = build_server(settings(timeout=60, channel_address="127.0.0.1", sandbox="none"))
    async with Client(server, raise_exceptions=True, mode="legacy", sampling_callback=answer) as c:
        yield c


async def channel_of(client: Client) -> tuple[str, int, str]:
    with anyio.fail_after(60):
        address, secret = text_of(await run(client, ADDRESS)).split()
    url = urlsplit(address)
    assert url.scheme == "tcp" and url.hostname is not None and url.port is not None
    return url.hostname, url.port, secret


def request(text: str, request_id: int = 1) -> bytes:
    params = {"messages": [{"role": "user", "content": text}]}
    return json.dumps({"kind": "request", "id": request_id, "method": "sampling.create", "params": params}).encode()


async def exchange(host: str, port: int, lines: list[bytes]) -> bytes:
    """What the server sends back on a fresh connection after `lines`, up to its first line or its
    end: b"" when it closed without a word."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(b"".join(line + b"\n" for line in lines))
        await writer.drain()
        with anyio.fail_after(30):
            return await reader.readline()
    except ConnectionResetError:  # closed with our request still unread: as silent as a clean close
        return b""
    finally:
        writer.close()


async def test_kernel_code_asks_the_clients_model_over_the_tcp_channel(client: Client) -> None:
    asked.clear()
    host, port, _ = await channel_of(client)
    assert (host, port > 0) == ("127.0.0.1", True)
    with anyio.fail_after(60):
        result = await run(client, ASK)
    assert not result.is_error, text_of(result)
    assert text_of(result) == "answer to Say hi."
    assert asked == ["Say hi."]


async def test_a_connection_that_opens_with_the_secret_is_answered(client: Client) -> None:
    asked.clear()
    host, port, secret = await channel_of(client)
    reply = json.loads(await exchange(host, port, [secret.encode(), request("from the test")]))
    assert reply["id"] == 1 and reply["error"] is None
    assert reply["result"]["text"] == "answer to from the test"
    assert asked == ["from the test"]


@pytest.mark.parametrize(
    "hello",
    [
        pytest.param([], id="no secret"),
        pytest.param([b"x" * 43], id="a wrong secret of the right length"),
        pytest.param([b"wrong"], id="a short wrong secret"),
    ],
)
async def test_a_connection_without_the_secret_is_closed_with_nothing_handled(
    client: Client, hello: list[bytes]
) -> None:
    asked.clear()
    host, port, secret = await channel_of(client)
    assert hello != [secret.encode()]
    assert await exchange(host, port, [*hello, request("from a stranger"), request("again", 2)]) == b""
    assert asked == []


async def test_a_replacement_kernel_reaches_the_server_at_the_same_address(client: Client) -> None:
    before = await channel_of(client)
    with anyio.fail_after(60):
        died = await run(client, "import os\nos._exit(3)")
    assert died.is_error
    assert await channel_of(client) == before
    asked.clear()
    with anyio.fail_after(60):
        result = await run(client, ASK)
    assert text_of(result).endswith("answer to Say hi."), text_of(result)
    assert asked == ["Say hi."]


async def test_the_secret_is_in_nothing_the_model_is_shown(client: Client) -> None:
    _, _, secret = await channel_of(client)
    with anyio.fail_after(60):
        await run(client, "x = 1")
        shown = [
            text_of(await run(client, "help()")),
            text_of(await client.call_tool("list_scope", {})),
            (await client.list_tools()).model_dump_json(),
        ]
    assert "sql" in shown[0] and "x" in shown[1]
    assert not [text for text in shown if secret in text]


def test_a_given_port_that_is_taken_is_passed_over_for_the_next_free_one() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        session = SessionDir(settings(channel_address=f"127.0.0.1:{port}"))
        try:
            url = urlsplit(session.config.channel or "")
            assert (url.scheme, url.hostname) == ("tcp", "127.0.0.1")
            assert url.port is not None and port < url.port < port + 1024
            assert session.channel is None  # no unix socket beside it
        finally:
            session.close()


def test_a_wildcard_host_is_told_to_kernels_as_this_machines_name() -> None:
    session = SessionDir(settings(channel_address="0.0.0.0"))
    try:
        url = urlsplit(session.config.channel or "")
        assert (url.scheme, url.hostname) == ("tcp", socket.getfqdn().lower())
    finally:
        session.close()


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("192.0.2.1", "192.0.2.1: cannot listen there (Cannot assign requested address)"),
        ("127.0.0.1:70000", "127.0.0.1:70000: the port must be a number from 0 to 65535"),
        (":9000", ":9000 has no host"),
    ],
)
def test_an_address_the_server_cannot_listen_on_is_a_one_line_error(address: str, reason: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "memex_mcp", "--channel-address", address],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"memex-mcp: error: --channel-address {reason}")
