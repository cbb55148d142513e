"""A kernel behind a Jupyter Kernel Gateway or Enterprise Gateway: started, interrupted and stopped
through its REST API, talked to over its WebSocket.

The WebSocket speaks jupyter_server's JSON protocol: each message is one JSON text (header,
parent_header, metadata, content, buffers) with a `channel` field naming shell, iopub, stdin or
control; headers pass through as they are, so a subshell's id reaches the kernel. The gateway
passes a kernel only the variables named `KERNEL_*` of the start request, so the runtime's
configuration travels as `KERNEL_MEMEX_RUNTIME_CONFIG`.

There is no pid to watch: the kernel is known dead when the WebSocket closes, when the gateway
says on IOPub that it restarted or lost it, or when the gateway's record of it (looked at as each
execution is sent, and every few seconds) is gone or dead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import struct
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx2
from jupyter_client.jsonutil import json_default
from jupyter_client.session import Session
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, WebSocketException

from memex_mcp.protocol import CONFIG_ENV, RuntimeConfig
from memex_mcp.runtime.cells.marker import MARKER_ENV, marker_path
from memex_mcp.server.inbox import Message, QueueInbox
from memex_mcp.server.kernel import Channel, Connection, KernelDied, KernelUnavailable

#: The environment variable holding the gateway's token: never an option, so that it stays out of `ps`.
TOKEN_ENV = "MEMEX_GATEWAY_TOKEN"
#: The prefix a gateway requires of the variables it hands a kernel.
_PASSED = "KERNEL_"
#: Seconds a kernel may take from the start request until it answers.
_READY_WITHIN = 60.0
#: Seconds between two looks at the gateway's record of the kernel.
_POLL_EVERY = 3.0
#: Seconds a restart the gateway began on its own is given before the kernel is shut down (see `close`).
_RESTART_SETTLE = 2.0
#: Seconds one REST request may take (a start takes as long as the kernel's process takes to launch).
_REQUEST_TIMEOUT = httpx2.Timeout(15.0, read=_READY_WITHIN)


class GatewayError(KernelUnavailable):
    """The gateway refused or failed a request; the message says what to fix."""


class GatewayConnection(Connection):
    shell: QueueInbox
    iopub: QueueInbox
    control: QueueInbox

    def __init__(
        self, url: str, kernel_id: str, http: httpx2.AsyncClient, auth: dict[str, str], config: RuntimeConfig, key: str
    ) -> None:
        self._url = url
        self._id = kernel_id
        self._http = http
        self._auth = auth
        # Only builds messages: the gateway signs what it forwards with the kernel's key.
        self.session = Session(username="memex")
        self.dead = asyncio.Event()
        self.ready_within = _READY_WITHIN
        # Readable only where the gateway's host shares the session directory; elsewhere the server
        # goes by IOPub alone.
        self.marker = marker_path(config.session_dir, key)
        self.shell = QueueInbox()
        self.iopub = QueueInbox()
        self.control = QueueInbox()
        self._ws: ClientConnection | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._looking: asyncio.Task[None] | None = None
        #: When the gateway said it was restarting the kernel's process, if it did (loop time).
        self._restarted_at: float | None = None
        self._ending = "it is still running"

    @classmethod
    async def launch(cls, url: str, kernel_name: str, config: RuntimeConfig) -> GatewayConnection:
        """Ask the gateway at `url` for a kernel of kernelspec `kernel_name`."""
        url = url.rstrip("/")
        token = os.environ.get(TOKEN_ENV)
        auth = {"Authorization": f"token {token}"} if token else {}
        http = httpx2.AsyncClient(base_url=url, headers=auth, timeout=_REQUEST_TIMEOUT)
        key = f"gateway-{uuid.uuid4().hex}"
        env = {_PASSED + CONFIG_ENV: config.model_dump_json(), _PASSED + MARKER_ENV: key}
        try:
            response = await _request(http, url, "POST", "/api/kernels", json={"name": kernel_name, "env": env})
            # Gateways answer an unknown name with 404 or a bare 500: ask what they have.
            listed = await _kernelspecs(http) if response.status_code in (400, 404, 500) else None
            if listed is not None and kernel_name not in listed:
                raise GatewayError(_unknown_kernel(url, kernel_name, listed))
            _check(response, url, "start a kernel")
            kernel_id = response.json()["id"]
        except BaseException:
            await http.aclose()
            raise
        return cls(url, kernel_id, http, auth, config, key)

    async def open(self) -> None:
        """Connect the WebSocket, and start watching the kernel."""
        parts = urlsplit(self._url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        path = f"{parts.path}/api/kernels/{quote(self._id)}/channels"
        ws_url = urlunsplit((scheme, parts.netloc, path, f"session_id={self.session.session}", ""))
        try:
            # No size limit of our own: the server budgets output itself, a cell's chunk may be big.
            self._ws = await connect(ws_url, additional_headers=self._auth, max_size=None, open_timeout=_READY_WITHIN)
        except InvalidStatus as exc:
            body = exc.response.body.decode(errors="replace")
            raise GatewayError(_refusal(exc.response.status_code, body, self._url, "connect to the kernel")) from None
        except (OSError, WebSocketException, TimeoutError) as exc:
            raise GatewayError(f"the connection to the kernel on the gateway at {self._url} failed: {exc}") from None
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._read(self._ws)), loop.create_task(self._poll())]

    async def send(self, channel: Channel, msg: Message) -> None:
        if self._ws is None:
            raise KernelDied("it is not connected")
        data = {**msg, "buffers": [], "channel": channel}
        try:
            await self._ws.send(json.dumps(data, default=json_default))
        except WebSocketException:
            self._end("the connection to the gateway closed")
            raise KernelDied(self._ending) from None

    async def _read(self, ws: ClientConnection) -> None:
        """File every message under its channel until the WebSocket closes."""
        inboxes: dict[str, QueueInbox] = {"shell": self.shell, "iopub": self.iopub, "control": self.control}
        acknowledge = _quick_ack(ws)
        try:
            async for raw in ws:
                acknowledge()
                try:
                    msg = _decode(raw)
                    channel = msg.pop("channel", None)
                    msg["msg_type"] = msg["header"]["msg_type"]
                    msg["parent_header"] = msg.get("parent_header") or {}
                except (ValueError, KeyError, TypeError, AttributeError, struct.error):
                    continue  # not a Jupyter message: nobody waits for it
                if channel == "iopub" and msg["msg_type"] == "status" and not msg["parent_header"]:
                    # The gateway's own word about the kernel: it restarts a kernel whose process ended,
                    # empty, so for memex that kernel has died either way.
                    state = msg["content"].get("execution_state")
                    if state in ("restarting", "autorestarting"):
                        self._restarted_at = asyncio.get_running_loop().time()
                        self._end("its process ended and the gateway restarted it")
                    elif state == "dead":
                        self._end("its process ended and the gateway could not restart it")
                inbox = inboxes.get(channel or "")
                if inbox is not None:
                    inbox.put(msg)
        except WebSocketException:
            pass
        finally:
            code, reason = ws.close_code, ws.close_reason
            why = f" ({code}{': ' + reason if reason else ''})" if code is not None else ""
            self._end(f"the gateway closed the connection to it{why}")

    async def _poll(self) -> None:
        """Look at the gateway's record of the kernel every few seconds."""
        while not self.dead.is_set():
            await asyncio.sleep(_POLL_EVERY)
            await self._check()

    def look(self) -> None:
        """A kernel shut down on the gateway closes no WebSocket: ask, beside the execution, so that
        the call does not wait for the answer. A kernel found gone ends the execution; whether it had
        begun is then what IOPub and the marker say, as for any death."""
        if self._looking is None or self._looking.done():
            self._looking = asyncio.get_running_loop().create_task(self._check())

    async def _check(self) -> None:
        """Ask the gateway about the kernel. A gateway that does not answer is not taken for a dead
        kernel: the WebSocket closes if it is gone."""
        with contextlib.suppress(httpx2.HTTPError, ValueError, AttributeError):
            response = await self._http.get(f"/api/kernels/{quote(self._id)}")
            if response.status_code == 404:
                self._end("it was shut down on the gateway")
            elif response.is_success and response.json().get("execution_state") == "dead":
                reason = response.json().get("reason")
                self._end("the gateway reports it dead" + (f": {reason}" if reason else ""))

    def _end(self, why: str) -> None:
        if not self.dead.is_set():
            self._ending = why
            self.dead.set()

    def exited(self) -> bool:
        return self.dead.is_set()

    def exit_description(self) -> str:
        return self._ending

    async def start_failure(self) -> str:
        return f"it ended while starting on the gateway at {self._url} ({self._ending})"

    async def interrupt(self) -> None:
        response = await _request(self._http, self._url, "POST", f"/api/kernels/{quote(self._id)}/interrupt")
        if response.status_code == 404:
            self._end("it was shut down on the gateway")
            raise KernelDied(self._ending)
        _check(response, self._url, "interrupt the kernel")

    def kill(self) -> None:
        pass  # a gateway has no harder way to stop a kernel than the shutdown `close` asked for

    async def close(self, now: bool) -> None:
        """Stop watching, close the WebSocket, and have the gateway shut the kernel down (which it
        does politely, and by force after its own grace period, either way).

        A kernel whose process the gateway is starting again is shut down only once that start is
        under way: a shutdown that lands in the middle of it leaves the new process running
        untracked, with this session's database open, so the next kernel could not open it."""
        self._end("it was shut down")
        try:
            for task in [*self._tasks, self._looking]:
                if task is not None:
                    task.cancel()
            if self._ws is not None:
                with contextlib.suppress(WebSocketException, OSError):
                    await self._ws.close()
            if self._restarted_at is not None:
                await asyncio.sleep(self._restarted_at + _RESTART_SETTLE - asyncio.get_running_loop().time())
            with contextlib.suppress(httpx2.HTTPError):
                await self._http.delete(f"/api/kernels/{quote(self._id)}")
        finally:
            await self._http.aclose()


def _quick_ack(ws: ClientConnection) -> Callable[[], None]:
    """Acknowledge what arrived at once. jupyter_server leaves Nagle's algorithm on for its
    WebSockets, so each of a reply's small messages after the first waits for the ACK of the one
    before; with the receiver's delayed ACK that is about 40 ms per call. Linux forgets a quick ACK
    after each use, so it is asked for again per message."""
    sock = ws.transport.get_extra_info("socket")
    option = getattr(socket, "TCP_QUICKACK", None)
    if sock is None or option is None:
        return lambda: None

    def acknowledge() -> None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, option, 1)

    return acknowledge


async def _request(http: httpx2.AsyncClient, url: str, method: str, path: str, **options: Any) -> httpx2.Response:
    """One REST request; a gateway that cannot be reached is a GatewayError naming it."""
    try:
        return await http.request(method, path, **options)
    except httpx2.TimeoutException:
        raise GatewayError(
            f"the kernel gateway at {url} did not answer in time; check that it runs and is not overloaded"
        ) from None
    except httpx2.HTTPError as exc:
        raise GatewayError(
            f"the kernel gateway at {url} cannot be reached ({type(exc).__name__}: {exc}); check that it runs "
            "and that --kernel-gateway names it"
        ) from None


def _check(response: httpx2.Response, url: str, what: str) -> None:
    if not response.is_success:
        raise GatewayError(_refusal(response.status_code, response.text, url, what))


def _refusal(status: int, body: str, url: str, what: str) -> str:
    """What a gateway's refusal means, and what to do about it."""
    said = _message(body)
    if status == 403 and "authorized to start" in said:
        # Enterprise Gateway authorizes the user a kernel is for: memex sends no KERNEL_USERNAME, so
        # that is the user the gateway runs as, and root is refused unless its administrator allows
        # it. The gateway's advice to set KERNEL_USERNAME is dropped: it is not the server's to set.
        who = said.split(". ")[0]
        return (
            f"the kernel gateway at {url} does not authorize the user it starts kernels as (HTTP 403: {who}); "
            "have its administrator allow that user (Enterprise Gateway's unauthorized_users, root by default, "
            "and authorized_users)"
        )
    if status == 401 or (status == 403 and "limit" not in said.lower()):
        return (
            f"the kernel gateway at {url} refused the token (HTTP {status}); check {TOKEN_ENV} in the "
            "server's environment"
        )
    if status in (403, 429, 503):
        return (
            f"the kernel gateway at {url} has no room for another kernel (HTTP {status}: {said}); "
            "stop idle scratchpads or raise the gateway's kernel limit, then try again"
        )
    return f"the kernel gateway at {url} could not {what} (HTTP {status}: {said})"


async def _kernelspecs(http: httpx2.AsyncClient) -> list[str] | None:
    """The names of the kernelspecs the gateway has, if it says."""
    with contextlib.suppress(httpx2.HTTPError, ValueError, AttributeError):
        return sorted((await http.get("/api/kernelspecs")).json()["kernelspecs"])
    return None


def _unknown_kernel(url: str, name: str, listed: list[str]) -> str:
    return (
        f"the kernel gateway at {url} has no kernelspec named {name!r}; it has: {', '.join(listed) or 'none'}. "
        "Install memex's kernelspec on the gateway's hosts (memex-mcp kernelspec install) or name one that runs "
        "memex's runtime with --kernel-name"
    )


def _message(body: str) -> str:
    """A gateway's JSON error body's message, or the body itself."""
    with contextlib.suppress(ValueError, AttributeError, IndexError):
        parsed = json.loads(body)
        # An unexpected error's message is generic; the traceback's last line says what it was.
        said = parsed.get("traceback") and parsed["traceback"].strip().splitlines()[-1]
        return " ".join(str(said or parsed.get("message") or parsed.get("reason") or body).split())[:300]
    return " ".join(body.split())[:300]


def _decode(raw: str | bytes) -> Message:
    """One message off the WebSocket. A message with binary buffers comes as jupyter_server's binary
    frame (a count, offsets, then the JSON and the buffers); memex reads none of the buffers."""
    if isinstance(raw, bytes):
        count = struct.unpack_from("!I", raw)[0]
        offsets = struct.unpack_from(f"!{count}I", raw, 4)
        end = offsets[1] if count > 1 else len(raw)
        raw = raw[offsets[0] : end].decode()
    msg: Message = json.loads(raw)
    return msg
