"""The kernel's line to the server: requests over the scratchpad's unix socket or TCP port, from any thread.

Jupyter's own channels cannot carry this: a comm reply reaches the kernel on the shell channel,
which the main thread reads only between cells, so a cell blocked on agents whose threads wait
for the server would wait forever. This socket is read by a thread of its own.

Each connection opens with the scratchpad's secret on a line of its own (the server closes one
that does not), then carries JSON lines.

Many requests may be outstanding at once (from many threads); each waits for the reply with its
id. The connection is opened on first use and again after it broke.

    ChannelError          the server cannot be reached, closed the line, or answered with an error
    └── ChannelTimeout    no reply within the timeout (the request is cancelled on the server)
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from memex_mcp.protocol import ChannelCancel, ChannelReply, ChannelRequest

__all__ = ["Channel", "ChannelError", "ChannelTimeout", "default"]


class ChannelError(Exception):
    """The message says what happened, in words for the model."""


class ChannelTimeout(ChannelError):
    pass


_GONE = "the memex server is gone (it stopped or was restarted), so nothing that needs it can work now"
#: Seconds a TCP connection may take to open: a server host that does not answer fails the call
#: instead of hanging it.
_CONNECT_TIMEOUT = 10.0


class _Line:
    """One connection: its socket, the requests waiting on it, and the thread reading replies."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.pending: dict[int, Future[ChannelReply]] = {}
        self.lock = threading.Lock()  # guards `pending`, `open` and writes to `sock`
        self.open = True
        threading.Thread(target=self._read, name="memex-channel", daemon=True).start()

    def send(self, data: bytes) -> None:
        with self.lock:
            if not self.open:
                raise ChannelError(f"The line to the server broke: {_GONE}.")
            self.sock.sendall(data)

    def _read(self) -> None:
        try:
            with self.sock.makefile("rb") as lines:
                for line in lines:
                    reply = ChannelReply.model_validate_json(line)
                    with self.lock:
                        future = self.pending.pop(reply.id, None)
                    if future is not None:
                        future.set_result(reply)
        except (OSError, ValidationError):
            pass
        finally:
            self.close()
            self.sock.close()

    def close(self) -> None:
        with self.lock:
            self.open = False
            waiting, self.pending = list(self.pending.values()), {}
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        for future in waiting:
            if not future.done():
                future.set_exception(ChannelError(f"The server closed the line before it answered: {_GONE}."))


class Channel:
    """A thread-safe client of the server's channel at `path` (a unix socket's path or
    `tcp://HOST:PORT`), opening each connection with `secret` when the server asks for one."""

    def __init__(self, path: str | None, secret: str | None = None) -> None:
        self.path = path
        self._secret = secret
        self._ids = itertools.count(1)
        self._connect_lock = threading.Lock()
        self._line: _Line | None = None

    def call(self, method: str, params: dict[str, Any] | None = None, timeout: float | None = None) -> Any:
        """Ask the server; block this thread until it answers, at most `timeout` seconds.

        Returns the result; raises ChannelError (the server's own error message, or why it could
        not be asked) or ChannelTimeout. Interrupting the wait (Ctrl-C) cancels the request.
        """
        line = self._connected()
        request = ChannelRequest(id=next(self._ids), method=method, params=params or {})
        future: Future[ChannelReply] = Future()
        with line.lock:
            line.pending[request.id] = future
        try:
            try:
                line.send(request.model_dump_json().encode() + b"\n")
            except OSError:
                line.close()
            reply = _wait(future, timeout)
        except FutureTimeout:
            raise ChannelTimeout(f"The server did not answer {method} within {timeout:g} s.") from None
        finally:
            if not future.done():
                self._cancel(line, request.id)
        if reply.error is not None:
            raise ChannelError(reply.error)
        return reply.result

    def _connected(self) -> _Line:
        with self._connect_lock:
            if self._line is not None and self._line.open:
                return self._line
            if self.path is None:
                raise ChannelError("This kernel was not started by a memex server, so it has no line to one.")
            try:
                sock = _connect(self.path)
            except OSError as exc:
                raise ChannelError(f"Cannot reach the server at {self.path} ({_reason(exc)}): {_GONE}.") from None
            try:
                if self._secret is not None:
                    sock.sendall(self._secret.encode() + b"\n")
            except OSError as exc:
                sock.close()
                raise ChannelError(f"The server at {self.path} closed the line ({_reason(exc)}): {_GONE}.") from None
            self._line = _Line(sock)
            return self._line

    @staticmethod
    def _cancel(line: _Line, request_id: int) -> None:
        with line.lock:
            line.pending.pop(request_id, None)
        with contextlib.suppress(ChannelError, OSError):
            line.send(ChannelCancel(id=request_id).model_dump_json().encode() + b"\n")

    def close(self) -> None:
        with self._connect_lock:
            if self._line is not None:
                self._line.close()
                self._line = None


def _connect(address: str) -> socket.socket:
    if not address.startswith("tcp://"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(address)
        except OSError:
            sock.close()
            raise
        return sock
    url = urlsplit(address)
    if url.hostname is None or url.port is None:
        raise OSError(f"{address} is not tcp://HOST:PORT")
    sock = socket.create_connection((url.hostname, url.port), timeout=_CONNECT_TIMEOUT)
    sock.settimeout(None)
    # Requests and replies are single small lines: waiting to batch them only adds latency.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "this kernel may not open that connection: a confined kernel has no network"
    return exc.strerror or str(exc) or type(exc).__name__


#: Longest uninterrupted wait: an exception raised in the waiting thread (an agent cancelled
#: with `handle.cancel()`) takes effect only between waits.
_SLICE = 0.25


def _wait(future: Future[ChannelReply], timeout: float | None) -> ChannelReply:
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = _SLICE if deadline is None else min(_SLICE, deadline - time.monotonic())
        try:
            return future.result(max(left, 0))
        except FutureTimeout:
            if deadline is not None and time.monotonic() >= deadline:
                raise


def default() -> Channel:
    """This kernel's channel to its server (the same object on every call: its runtime's)."""
    from memex_mcp.runtime.runtime import current  # the runtime imports this module

    return current().channel
