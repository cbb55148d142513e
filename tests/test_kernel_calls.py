"""Calls of the server into the kernel's runtime: a refusal is the model's to fix and says so; a call
or reply that does not fit the protocol is memex's own failure and never reads as the model's. And
the one lifecycle that stops every kernel and session of a server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import process_alive, run, settings, text_of
from mcp import Client

from memex_mcp.server import build_server
from memex_mcp.server.kernel import Kernel, KernelDied
from memex_mcp.server.lifecycle import Lifecycle
from memex_mcp.server.session import SessionDir

pytestmark = pytest.mark.anyio

#: Put in front of the runtime's `__memex__` by a test: `_rewrite` changes each request or reply.
SHADOW = """
import json
from memex_mcp.protocol import RpcOk
from memex_mcp.runtime.rpc import JsonReply
_real_memex = __memex__
"""
RESTORE = "__memex__ = _real_memex"

INTERNAL = "memex-mcp failed internally"
NOT_YOURS = "This is a fault of the server, not of your call"


@pytest.fixture(scope="module")
async def client(anyio_backend: str) -> AsyncIterator[Client]:
    async with Client(build_server(settings(timeout=30, interrupt_grace=2)), raise_exceptions=True) as c:
        assert not (await run(c, SHADOW)).is_error
        yield c


async def test_a_reply_that_does_not_fit_its_model_reaches_the_model_as_a_failure_of_memex(client: Client) -> None:
    await run(client, "__memex__ = lambda request: JsonReply(RpcOk(result={'variables': 'not a list'}))")
    try:
        result = await client.call_tool("list_scope", {})
    finally:
        await run(client, RESTORE)
    assert result.is_error
    text = text_of(result)
    assert text.startswith(f"Error executing tool list_scope: {INTERNAL}") and NOT_YOURS in text
    assert "reply to scope is not what this server expects" in text


async def test_a_method_the_runtime_does_not_have_is_a_failure_of_memex(client: Client) -> None:
    renamed = "__memex__ = lambda request: _real_memex(request.replace('\"submit\"', '\"hand_in\"', 1))"
    await run(client, renamed)
    try:
        result = await client.call_tool("submit", {"value": 42})
    finally:
        await run(client, RESTORE)
    assert result.is_error
    text = text_of(result)
    assert INTERNAL in text and NOT_YOURS in text and "no method 'hand_in'" in text


async def test_a_runtime_that_raises_while_answering_is_a_failure_of_memex(client: Client) -> None:
    await run(client, "def _broken(request):\n    raise MemoryError('out of memory')\n__memex__ = _broken")
    try:
        result = await client.call_tool("spawn_agent", {"task": "count"})
    finally:
        await run(client, RESTORE)
    assert result.is_error
    text = text_of(result)
    assert INTERNAL in text and "the runtime's spawn_agent call failed: MemoryError: out of memory" in text


async def test_a_refusal_reaches_the_model_with_the_runtimes_own_message(client: Client) -> None:
    result = await client.call_tool("submit", {"variable": "no_such_answer"})
    assert result.is_error
    assert text_of(result) == (
        "Error executing tool submit: There is no variable 'no_such_answer' in the scope; list_scope shows what exists."
    )


async def test_a_schema_mismatch_is_refused_with_what_to_fix_and_records_nothing(client: Client) -> None:
    result = await client.call_tool(
        "submit", {"value": {"n": "three"}, "schema": {"properties": {"n": {"type": "integer"}}}}
    )
    assert result.is_error
    text = text_of(result)
    assert "The answer does not match the schema:\n- at $.n: 'three' is not of type 'integer'" in text
    assert INTERNAL not in text
    assert text_of(await run(client, "len(submissions)")) == "0"


async def test_after_a_failed_call_the_same_kernel_answers_with_its_variables_intact(client: Client) -> None:
    await run(client, "kept = 7")
    await run(client, "__memex__ = lambda request: 'not a reply'")
    try:
        assert INTERNAL in text_of(await client.call_tool("list_scope", {}))
    finally:
        await run(client, RESTORE)
    listing = await client.call_tool("list_scope", {"pattern": "kept"})
    assert not listing.is_error
    assert listing.structured_content == {
        "variables": [{"name": "kept", "type": "int", "summary": "7", "size_bytes": 28}],
        "agents": [],
    }


async def test_a_stopped_lifecycle_has_stopped_its_kernels_removed_their_session_and_starts_no_more() -> None:
    lifecycle = Lifecycle()
    session = SessionDir(settings(), lifecycle)
    kernel = await Kernel.launch(Path.cwd(), session.config, lifecycle)
    await kernel.ready()
    pid = kernel.pid
    assert pid is not None and kernel in lifecycle and session in lifecycle
    await lifecycle.stop()
    assert not process_alive(pid)
    assert not session.path.exists() and session.channel is not None and not session.channel.parent.exists()
    with pytest.raises(KernelDied, match="the server is shutting down"):
        await Kernel.launch(Path.cwd(), session.config, lifecycle)


async def test_a_kernel_shut_down_twice_at_once_is_stopped_once_and_leaves_the_lifecycle() -> None:
    lifecycle = Lifecycle()
    session = SessionDir(settings(), lifecycle)
    try:
        kernel = await Kernel.launch(Path.cwd(), session.config, lifecycle)
        await kernel.ready()
        pid = kernel.pid
        await asyncio.gather(kernel.shutdown(), kernel.shutdown(now=True))
        assert pid is not None and not process_alive(pid)
        assert kernel not in lifecycle
    finally:
        session.close()
    assert session not in lifecycle
