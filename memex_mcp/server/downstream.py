"""Downstream MCP servers (`--mcp-config`): started with the scratchpad, called by the kernel's `tools`.

Each server runs in a task of its own that holds its MCP client open until the scratchpad closes
(an SDK client must be entered and left by the same task). Servers start in the background; the
kernel's first `tools.list` waits for them. A server that fails to start or dies is reported once
(`take_reports`, shown in the next result) and gives a clear error when called; the others work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp import types as mcp_types
from mcp.client._transport import ReadStream, Transport, TransportStreams
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage
from mcp_types import CONNECTION_CLOSED

from memex_mcp.jsonschemas import jsonschema as load_jsonschema
from memex_mcp.protocol import (
    DownstreamListing,
    DownstreamServer,
    DownstreamTool,
    ToolCallParams,
    ToolCallResult,
    ToolContent,
)
from memex_mcp.server.channel import Handler
from memex_mcp.server.errors import MemexError
from memex_mcp.server.lifecycle import Lifecycle, Stage
from memex_mcp.server.mcp_config import ServerConfig, read_config

__all__ = ["Downstream"]

#: Seconds a server gets to start and list its tools (`npx` may first download a package).
START_TIMEOUT = 60.0
#: Seconds a server gets to stop when memex stops.
_STOP_TIMEOUT = 10.0
_STDERR_TAIL = 1500
_STOPPED = "it stopped (its connection closed); its tools fail until memex-mcp restarts"
_log = logging.getLogger(__name__)


class DownstreamUnavailable(MemexError):
    pass


class _Connection:
    """One downstream server: its task, its client while it works, or why it does not."""

    def __init__(self, name: str, config: ServerConfig, log_dir: Path, report: Callable[[str], None]) -> None:
        self.name = name
        self.config = config
        self.ready = asyncio.Event()
        self.error: str | None = None
        self.tools: list[DownstreamTool] = []
        self._client: Client | None = None
        self._stop = asyncio.Event()
        self._report = report
        self._stderr = log_dir / (re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".stderr")
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())
        # Not a cancel scope around the start: the client's own scopes stay open after it.
        asyncio.get_running_loop().call_later(START_TIMEOUT, self._start_timed_out)

    def _start_timed_out(self) -> None:
        if not self.ready.is_set() and self._task is not None:
            self._fail(f"it did not start and list its tools within {START_TIMEOUT:g} s")
            self._task.cancel()

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(self._task), _STOP_TIMEOUT)
            self._task.cancel()

    async def _run(self) -> None:
        try:
            async with contextlib.AsyncExitStack() as stack:
                client = await stack.enter_async_context(self._client_for(stack))
                self.tools = await _list_tools(client)
                # The client validates structured results with jsonschema, imported on the first one.
                await asyncio.to_thread(load_jsonschema)
                self._client = client
                self.ready.set()
                await self._stop.wait()
        except Exception as exc:  # whatever stops a server is reported, not raised
            if self.error is None and not self._stop.is_set():
                self._fail(f"it {'stopped' if self.ready.is_set() else 'failed to start'}: {_describe(exc)}")
        finally:
            self._client = None
            self.ready.set()

    def _client_for(self, stack: contextlib.AsyncExitStack) -> Client:
        config = self.config
        transport: Transport
        if config.url is not None:
            from mcp.client.streamable_http import streamable_http_client
            from mcp.shared._httpx_utils import create_mcp_http_client

            http = create_mcp_http_client(headers=config.headers or None)
            stack.push_async_callback(http.aclose)
            transport = streamable_http_client(config.url, http_client=http)
        else:
            assert config.command is not None
            errlog = stack.enter_context(self._stderr.open("w"))
            params = StdioServerParameters(
                command=config.command, args=config.args, env=config.env or None, cwd=config.cwd
            )
            transport = stdio_client(params, errlog=errlog)
        return Client(_watched(transport, self._ended))

    def _ended(self) -> None:
        """The server's stream ended: its process exited (or the HTTP server went away)."""
        if self.error is None and self.ready.is_set() and not self._stop.is_set():
            self._fail(_STOPPED)

    def _fail(self, why: str) -> None:
        tail = _tail(self._stderr)
        self.error = f"MCP server {self.name!r}: {why}" + (f"\nIts stderr ended with:\n{tail}" if tail else "")
        self._client = None
        self._stop.set()
        _log.warning("downstream %s", self.error)
        self._report(self.error)

    async def call(self, tool: str, arguments: dict[str, Any]) -> ToolCallResult:
        await self.ready.wait()
        client = self._client
        if client is None:
            raise DownstreamUnavailable(self.error or f"MCP server {self.name!r} has stopped.")
        try:
            result = await client.call_tool(tool, arguments)
        except MCPError as exc:
            if exc.code != CONNECTION_CLOSED:
                raise MemexError(
                    f"MCP server {self.name!r} refused the call of {tool!r}: {exc.error.message}"
                ) from None
            if self.error is None:
                self._fail(_STOPPED)
            raise DownstreamUnavailable(self.error or "") from None
        return _result(result)


class Downstream:
    """The downstream servers of one scratchpad and the kernel's `tools.*` channel methods."""

    def __init__(self, config: Path | None) -> None:
        self._config = config
        servers = read_config(config) if config is not None else {}
        self._log_dir = Path(tempfile.mkdtemp(prefix="memex-mcp-downstream-")) if servers else None
        self._reports: list[str] = []
        self._lifecycle: Lifecycle | None = None
        self._servers = {
            name: _Connection(name, server, self._log_dir, self._reports.append)
            for name, server in servers.items()
            if self._log_dir is not None
        }

    def start(self, lifecycle: Lifecycle) -> None:
        """Start every server in the background (call with the event loop running); they stop with
        `close`, or else when `lifecycle` stops."""
        self._lifecycle = lifecycle
        if self._servers:
            lifecycle.add(Stage.PROCESSES, self, self.close)
        for connection in self._servers.values():
            connection.start()

    async def close(self) -> None:
        if self._lifecycle is not None:
            self._lifecycle.discard(Stage.PROCESSES, self)
        await asyncio.gather(*(c.close() for c in self._servers.values()), return_exceptions=True)
        if self._log_dir is not None:
            shutil.rmtree(self._log_dir, ignore_errors=True)

    def take_reports(self) -> list[str]:
        """Failures not reported yet (each is returned once)."""
        reports, self._reports[:] = list(self._reports), []
        return reports

    def handlers(self) -> dict[str, Handler]:
        return {"tools.list": self._list, "tools.call": self._call}

    async def listing(self) -> DownstreamListing:
        await asyncio.gather(*(c.ready.wait() for c in self._servers.values()))
        return DownstreamListing(
            config=str(self._config) if self._config is not None else None,
            servers=[
                DownstreamServer(name=c.name, error=c.error, tools=c.tools if c.error is None else [])
                for c in self._servers.values()
            ],
        )

    async def _list(self, params: dict[str, Any]) -> Any:
        return (await self.listing()).model_dump(mode="json")

    async def _call(self, params: dict[str, Any]) -> Any:
        request = ToolCallParams.model_validate(params)
        connection = self._servers.get(request.server)
        if connection is None:
            raise MemexError(
                f"There is no downstream MCP server {request.server!r}; "
                f"configured: {', '.join(map(repr, self._servers)) or 'none'}."
            )
        return (await connection.call(request.tool, request.arguments)).model_dump(mode="json")


@contextlib.asynccontextmanager
async def _watched(transport: Transport, on_end: Callable[[], None]) -> AsyncIterator[TransportStreams]:
    """`transport`, telling `on_end` when its read stream ends: a server that dies between calls
    is noticed (and reported) at once, not at the next call."""
    async with transport as (read, write):
        yield _WatchedRead(read, on_end), write


class _WatchedRead:
    """A `ReadStream` that calls `on_end` when the stream ends."""

    def __init__(self, stream: ReadStream[SessionMessage | Exception], on_end: Callable[[], None]) -> None:
        self._stream = stream
        self._on_end = on_end

    async def receive(self) -> SessionMessage | Exception:
        try:
            return await self._stream.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            self._on_end()
            raise

    async def aclose(self) -> None:
        await self._stream.aclose()

    def __aiter__(self) -> _WatchedRead:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None

    async def __aenter__(self) -> _WatchedRead:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def last_context(self) -> Any:
        return getattr(self._stream, "last_context", None)


async def _list_tools(client: Client) -> list[DownstreamTool]:
    tools: list[DownstreamTool] = []
    cursor: str | None = None
    for _ in range(100):  # a server whose pages never end cannot hang the start
        page = await client.list_tools(cursor=cursor)
        tools += [_tool(tool) for tool in page.tools]
        cursor = page.next_cursor
        if cursor is None:
            break
    return tools


def _tool(tool: mcp_types.Tool) -> DownstreamTool:
    output = tool.output_schema or {}
    properties = output.get("properties")
    # The SDK's servers wrap a non-object result (a list, a number) as {"result": value}.
    wraps = isinstance(properties, dict) and list(properties) == ["result"] and output.get("required") == ["result"]
    return DownstreamTool(
        name=tool.name, description=tool.description or "", input_schema=dict(tool.input_schema), wraps_result=wraps
    )


def _result(result: mcp_types.CallToolResult) -> ToolCallResult:
    return ToolCallResult(
        is_error=bool(result.is_error),
        structured=result.structured_content,
        content=[_content(block) for block in result.content],
    )


def _content(block: mcp_types.ContentBlock) -> ToolContent:
    if isinstance(block, mcp_types.TextContent):
        return ToolContent(type="text", text=block.text)
    if isinstance(block, mcp_types.ImageContent):
        return ToolContent(type="image", data=block.data, mime_type=block.mime_type)
    if isinstance(block, mcp_types.AudioContent):
        return ToolContent(type="audio", data=block.data, mime_type=block.mime_type)
    if isinstance(block, mcp_types.EmbeddedResource):
        resource = block.resource
        if isinstance(resource, mcp_types.TextResourceContents):
            return ToolContent(type="text", text=resource.text, mime_type=resource.mime_type)
        return ToolContent(type="blob", data=resource.blob, mime_type=resource.mime_type)
    return ToolContent(type="other", text=block.model_dump_json(by_alias=True, exclude_none=True))


def _describe(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, MCPError) and exc.code == CONNECTION_CLOSED:
        return "it closed the connection (the process exited)"
    if isinstance(exc, FileNotFoundError):
        return f"command not found ({exc.filename or exc})"
    return f"{type(exc).__name__}: {exc}"


def _tail(path: Path) -> str:
    with contextlib.suppress(OSError):
        text = path.read_text(errors="replace").strip()
        return text[-_STDERR_TAIL:]
    return ""
