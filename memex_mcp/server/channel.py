"""The server's end of the kernel's channel: a unix socket per scratchpad, requests to async handlers.

One socket serves every kernel the scratchpad has: a replacement kernel gets the same path in its
`RuntimeConfig` and connects to it when it first needs the server. Requests are handled
concurrently; a connection that closes (its kernel died) cancels its handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError

from memex_mcp.protocol import ChannelCancel, ChannelReply, ChannelRequest
from memex_mcp.server.errors import MemexError

__all__ = ["ChannelServer", "Handler", "remove_orphans", "remove_socket_dir", "socket_path"]

#: A handler gets the request's params and returns its JSON-able result. A MemexError's message
#: reaches the kernel as is; other exceptions are reported by type.
Handler = Callable[[dict[str, Any]], Awaitable[Any]]

#: Longest line accepted: a sampling request carries a whole conversation.
_LINE_LIMIT = 64 * 1024 * 1024
_MESSAGE: TypeAdapter[ChannelRequest | ChannelCancel] = TypeAdapter(
    Annotated[ChannelRequest | ChannelCancel, Field(discriminator="kind")]
)
_log = logging.getLogger(__name__)


_PREFIX = "memex-ch-"


def socket_path() -> Path | None:
    """A fresh socket path in a private directory (mode 0700: only this user can connect), or None
    where asyncio has no unix sockets (Windows): kernel code that needs the server is told so.

    In the system's temporary directory, not the state dir: unix socket paths are limited to
    about 100 bytes. The directory's name carries this process's id, for `remove_orphans`.
    """
    if os.name != "posix":
        return None
    return Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-")) / "channel"


def remove_socket_dir(path: Path) -> None:
    """The private directory of socket `path` (its session removes it, also when the server stops)."""
    shutil.rmtree(path.parent, ignore_errors=True)


def remove_orphans(alive: Callable[[int], bool]) -> None:
    """Socket directories of servers that died without cleaning up (SIGKILL, power loss)."""
    for directory in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*"):
        pid = directory.name[len(_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not alive(int(pid)):
            shutil.rmtree(directory, ignore_errors=True)


class ChannelServer:
    def __init__(self, path: Path | None, handlers: Mapping[str, Handler]) -> None:
        self.path = path
        self._handlers = dict(handlers)
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def start(self) -> None:
        if self.path is not None:
            self._server = await asyncio.start_unix_server(self._accept, path=str(self.path), limit=_LINE_LIMIT)

    async def close(self) -> None:
        """Stop listening, end every connection and remove the socket."""
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self.path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A task of our own, not asyncio's connection task: on Python 3.11 asyncio logs an error
        # when its task is cancelled (as a task group cancels it when the server stops).
        task = asyncio.ensure_future(self._serve(reader, writer))
        self._connections[task] = writer
        task.add_done_callback(self._closed)

    def _closed(self, task: asyncio.Task[None]) -> None:
        self._connections.pop(task).close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        running: dict[int, asyncio.Task[None]] = {}
        lock = asyncio.Lock()

        async def answer(reply: ChannelReply) -> None:
            async with lock:
                writer.write(reply.model_dump_json().encode() + b"\n")
                await writer.drain()

        async def handle(request: ChannelRequest) -> None:
            try:
                reply = ChannelReply(id=request.id, result=await self._call(request))
            except MemexError as exc:
                reply = ChannelReply(id=request.id, error=str(exc))
            except Exception as exc:
                _log.exception("channel method %s failed", request.method)
                reply = ChannelReply(
                    id=request.id, error=f"The server failed on {request.method}: {type(exc).__name__}: {exc}"
                )
            finally:
                running.pop(request.id, None)
            with contextlib.suppress(ConnectionError):
                await answer(reply)

        try:
            while line := await reader.readline():
                try:
                    message = _MESSAGE.validate_json(line)
                except ValidationError:
                    _log.warning("channel: dropped a malformed message")
                    return
                if isinstance(message, ChannelCancel):
                    if (task := running.pop(message.id, None)) is not None:
                        task.cancel()
                else:
                    running[message.id] = asyncio.ensure_future(handle(message))
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            return
        finally:
            for task in running.values():
                task.cancel()

    async def _call(self, request: ChannelRequest) -> Any:
        handler = self._handlers.get(request.method)
        if handler is None:
            raise MemexError(f"The server has no channel method {request.method!r}.")
        return await handler(request.params)
