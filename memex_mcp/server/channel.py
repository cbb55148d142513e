"""The server's end of the kernel's channel: one listener per scratchpad, requests to async handlers.

The listener is a unix socket, or with `--channel-address` a TCP port (for kernels on other hosts).
One listener serves every kernel the scratchpad has: a replacement kernel gets the same address and
secret in its `RuntimeConfig` and connects when it first needs the server. A connection's first
line is the scratchpad's secret; one that does not send it is closed before anything is handled.
Requests are handled concurrently; a connection that closes (its kernel died) cancels its handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import os
import secrets
import shutil
import socket
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError

from memex_mcp.protocol import ChannelCancel, ChannelReply, ChannelRequest
from memex_mcp.server.errors import MemexError

__all__ = [
    "ChannelServer",
    "Endpoint",
    "Handler",
    "endpoint",
    "parse_tcp",
    "remove_orphans",
    "remove_socket_dir",
    "socket_path",
]

#: A handler gets the request's params and returns its JSON-able result. A MemexError's message
#: reaches the kernel as is; other exceptions are reported by type.
Handler = Callable[[dict[str, Any]], Awaitable[Any]]

#: Longest line accepted: a sampling request carries a whole conversation.
_LINE_LIMIT = 64 * 1024 * 1024
_MESSAGE: TypeAdapter[ChannelRequest | ChannelCancel] = TypeAdapter(
    Annotated[ChannelRequest | ChannelCancel, Field(discriminator="kind")]
)
_log = logging.getLogger(__name__)
#: How long a new connection may take to send the secret before it is closed.
_HELLO_TIMEOUT = 10.0
#: How many ports from a given `--channel-address` port up scratchpads try before giving up.
_PORT_RANGE = 1024


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


def parse_tcp(text: str) -> tuple[str, int]:
    """`HOST`, `HOST:PORT`, `[IPv6]` or `[IPv6]:PORT` → (host, port); port 0 when none is given.
    Raises ValueError with a message for the command line."""
    host, port = text.strip(), ""
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise ValueError(f"{text} is not HOST[:PORT]")
        port = rest[1:]
    elif host.count(":") == 1:
        host, _, port = host.partition(":")
    if not host:
        raise ValueError(f"{text} has no host; give HOST[:PORT], e.g. 10.0.0.5 or memex.internal:9000")
    if port and not (port.isdigit() and 0 <= int(port) <= 65535):
        raise ValueError(f"{text}: the port must be a number from 0 to 65535")
    return host, int(port or 0)


@dataclass
class Endpoint:
    """Where one scratchpad's channel listens, and what its kernels are told (`RuntimeConfig`)."""

    #: The address kernels connect to: a socket path, or `tcp://HOST:PORT`. None: no channel here.
    address: str | None
    #: The first line of every connection; anything else closes it.
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    #: The unix socket's path, made when the server starts.
    path: Path | None = None
    #: The TCP socket, bound and listening already: its port is in `address` before any kernel starts.
    sock: socket.socket | None = None

    def release(self) -> None:
        """Close the TCP socket, or remove the unix socket's private directory."""
        if self.sock is not None:
            self.sock.close()
        if self.path is not None:
            remove_socket_dir(self.path)


def endpoint(tcp: str | None) -> Endpoint:
    """A fresh endpoint: on TCP at `tcp` (`HOST[:PORT]`, see `--channel-address`), else a unix socket.

    With a port, the first free one from it up (a firewall can open a range); without, any free one.
    A wildcard host (0.0.0.0, ::) listens everywhere and is advertised by this machine's name.
    Raises ValueError for a malformed address, OSError when nothing can be bound there.
    """
    if tcp is None:
        path = socket_path()
        return Endpoint(str(path) if path is not None else None, path=path)
    host, port = parse_tcp(tcp)
    sock = _bind(host, port)
    advertised = socket.getfqdn() if _wildcard(host) else host
    bracketed = f"[{advertised}]" if ":" in advertised else advertised
    return Endpoint(f"tcp://{bracketed}:{sock.getsockname()[1]}", sock=sock)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][0]
    last: OSError | None = None
    for candidate in range(port, min(port + _PORT_RANGE, 65536)) if port else [0]:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            # A restarted server gets its ports back while old connections linger in TIME_WAIT (on
            # Linux this never lets two listeners share a port).
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, candidate))
            sock.listen(64)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        sock.setblocking(False)
        return sock
    assert last is not None
    raise last


def _wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


class ChannelServer:
    def __init__(self, endpoint: Endpoint | Path | None, handlers: Mapping[str, Handler]) -> None:
        """Serve `handlers` at `endpoint`; a bare path is a unix socket whose connections send no secret."""
        if not isinstance(endpoint, Endpoint):
            self._secret: bytes | None = None
            self.path = endpoint
            self._sock: socket.socket | None = None
        else:
            self._secret = endpoint.secret.encode()
            self.path = endpoint.path
            self._sock = endpoint.sock
        self._handlers = dict(handlers)
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def start(self) -> None:
        if self._sock is not None:
            self._server = await asyncio.start_server(self._accept, sock=self._sock, limit=_LINE_LIMIT)
        elif self.path is not None:
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

    async def _admitted(self, reader: asyncio.StreamReader) -> bool:
        """Whether the connection's first line is the secret. Read as exactly that many bytes: a
        stranger gets no say in how much is buffered, nor how long it may hold the connection."""
        if self._secret is None:
            return True
        try:
            hello = await asyncio.wait_for(reader.readexactly(len(self._secret) + 1), _HELLO_TIMEOUT)
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            return False
        return hmac.compare_digest(hello, self._secret + b"\n")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not await self._admitted(reader):
            _log.warning("channel: closed a connection that did not send the scratchpad's secret")
            return
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
