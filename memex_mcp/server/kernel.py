"""One kernel: run code and collect its output in order, call the runtime, watch it die.

A `Kernel` is one incarnation. When it dies it stays dead; `Scratchpad` replaces it. What is said to
the kernel is the same wherever it runs; how it is reached is its `Connection`: a local process
(memex_mcp.server.local) or a kernel behind a Jupyter gateway (memex_mcp.server.gateway), chosen
by `Kernel.launch`.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from abc import ABC, abstractmethod
from collections.abc import Awaitable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, cast

from jupyter_client.session import Session
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from memex_mcp.protocol import REPORT_KEY, RPC_NAME, CellReport, RpcError, RpcOk, RuntimeCall, RuntimeConfig

# The one runtime module the server loads: both sides must agree on where the marker is and what it
# holds, and it imports only the standard library.
from memex_mcp.runtime.cells.marker import read_marker
from memex_mcp.server.errors import KernelCallFailed, MemexError, RuntimeRefusal
from memex_mcp.server.inbox import Inbox, Message
from memex_mcp.server.lifecycle import Lifecycle, Stage
from memex_mcp.server.output import CellOutput, add_display
from memex_mcp.server.sandbox import Setting

T = TypeVar("T")
R = TypeVar("R", bound=BaseModel)

_RPC_REPLY: TypeAdapter[RpcOk | RpcError] = TypeAdapter(Annotated[RpcOk | RpcError, Field(discriminator="status")])

#: How long a kernel_info's IOPub status may take once its reply is in. It comes within a few
#: milliseconds when IOPub is connected; when it is not (ZeroMQ's slow joiner: the subscription
#: reached the kernel after the status went out) asking again is cheap, waiting long is not.
_IOPUB_JOIN = 0.05
#: The kernel's command line: the memex runtime in this interpreter. A kernelspec for a gateway's
#: hosts carries the same (with the interpreter there).
_KERNEL_ARGV = [
    sys.executable,
    "-m",
    "memex_mcp.runtime.launch",
    "-f",
    "{connection_file}",
    "--ext=memex_mcp.runtime.extension",
    # The runtime captures descriptor output itself, in step with each cell.
    "--IPKernelApp.capture_fd_output=False",
    # The runtime keeps its own history with full outputs; IPython's SQLite copy only costs time.
    "--HistoryManager.enabled=False",
    # A runtime that fails to load (an ipykernel without a hook it needs) stops the kernel, which the
    # server reports with the runtime's message, instead of a kernel that half works.
    "--InteractiveShellApp.reraise_ipython_extension_failures=True",
]

Channel = Literal["shell", "control"]


class KernelDied(MemexError):
    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class KernelUnavailable(KernelDied):
    """No kernel can start until something outside memex is fixed; the message says what."""


class Connection(ABC):
    """How one kernel is reached and watched: the channels to send on and read from, its death,
    and the life-cycle operations only its host can do."""

    #: Builds (and, locally, signs) the messages sent to the kernel.
    session: Session
    shell: Inbox
    iopub: Inbox
    control: Inbox
    #: Set the moment the kernel is known to be gone.
    dead: asyncio.Event
    #: Where the kernel names the execute request it began (memex_mcp.runtime.cells.marker), if the
    #: server can read it.
    marker: Path | None = None
    #: Seconds the kernel may take to answer once opened; None: as long as its process lives.
    ready_within: float | None = None

    @property
    def pid(self) -> int | None:
        """The kernel's process id on this host, if it runs here."""
        return None

    @abstractmethod
    async def open(self) -> None:
        """Connect the channels, if launching did not."""

    @abstractmethod
    async def send(self, channel: Channel, msg: Message) -> None: ...

    @abstractmethod
    def look(self) -> None:
        """Start finding out whether the kernel is still there, where that takes a question (a
        gateway's record of it); `dead` is set if it is not. Asked as each execution is sent."""

    @abstractmethod
    def exited(self) -> bool:
        """Whether the kernel is gone, even if `dead` is not set yet (then it sets it)."""

    @abstractmethod
    def exit_description(self) -> str:
        """How the kernel ended, for the model: "killed by SIGKILL", "exit code 1", …"""

    async def start_failure(self) -> str:
        """Why a kernel that ended while starting ended, as well as can be told."""
        return self.exit_description()

    @abstractmethod
    async def interrupt(self) -> None: ...

    @abstractmethod
    async def close(self, now: bool) -> None:
        """Stop the kernel (politely, or at once) and release everything of it."""

    @abstractmethod
    def kill(self) -> None:
        """Stop the kernel at once while a polite `close` is still under way."""


class Kernel:
    def __init__(self, connection: Connection, config: RuntimeConfig, lifecycle: Lifecycle) -> None:
        self._connection = connection
        self.config = config
        self._lifecycle = lifecycle
        self._shutdown: asyncio.Future[None] | None = None
        self.dead = connection.dead
        self._session = connection.session
        #: The marker's last word, read once the kernel has exited.
        self._last_begun: str | None = None
        #: The subshell that runs concurrent runtime calls (see `call`), once the kernel is ready.
        self._subshell: str | None = None
        #: Subshells given up on: each is still stuck in a call, and a stuck one cannot be deleted.
        self.abandoned_subshells = 0

    @classmethod
    async def launch(
        cls,
        workdir: Path,
        config: RuntimeConfig,
        lifecycle: Lifecycle | None = None,
        sandbox: Setting = "none",
        gateway: str | None = None,
        kernel_name: str = "memex",
    ) -> Kernel:
        """Start the kernel and return at once; `ready()` waits for it to answer. The kernel is
        stopped with `lifecycle` unless it is shut down first (default: only by `shutdown`).

        Locally: a process of this interpreter in `workdir`, confined as `sandbox` says
        (memex_mcp.server.sandbox; raises SandboxUnavailable). With `gateway` (a Jupyter Kernel or
        Enterprise Gateway's URL): kernelspec `kernel_name` started there, confined by its host;
        the gateway's failures raise GatewayError (a KernelDied) saying what to fix."""
        lifecycle = lifecycle or Lifecycle()
        if lifecycle.stopping:
            raise KernelDied("the server is shutting down")
        connection: Connection
        async with lifecycle.launching():
            # Each kind's libraries load only when it is used.
            if gateway is not None:
                from memex_mcp.server.gateway import GatewayConnection

                connection = await GatewayConnection.launch(gateway, kernel_name, config)
            else:
                from memex_mcp.server.local import LocalConnection

                connection = await LocalConnection.launch(workdir, config, sandbox)
            kernel = cls(connection, config, lifecycle)
            if lifecycle.stopping:  # it stopped while this one was starting: it would be left running
                await kernel.shutdown(now=True)
                raise KernelDied("the server is shutting down")
            lifecycle.add(Stage.PROCESSES, kernel, lambda: kernel.shutdown(now=True))
            return kernel

    async def ready(self) -> None:
        """Wait until the kernel answers; a kernel that exits first is shut down and reported."""
        try:
            await self._ready()
        except BaseException:
            await self.shutdown()
            raise

    async def _ready(self) -> None:
        connection = self._connection
        try:
            async with asyncio.timeout(connection.ready_within):
                await self._unless_dead(connection.open())
                await self._unless_dead(self._handshake())
                self._subshell = await self._unless_dead(self._new_subshell())
        except TimeoutError:
            raise KernelDied(
                f"it did not answer within {connection.ready_within:g} s of starting; its host may be "
                "overloaded or the kernel may not start there (see the gateway's log)"
            ) from None
        except KernelDied:
            if not connection.exited():
                raise  # it said why itself
            raise KernelDied(await connection.start_failure()) from None

    async def _handshake(self) -> None:
        """A kernel_info reply, and an IOPub message about it: both channels are connected.

        jupyter_client's wait_for_ready ends by draining IOPub until it has been quiet for
        0.2 s, which is 0.2 s on every start; this waits for exactly the message it needs.
        """
        while True:
            msg = self._session.msg("kernel_info_request")
            msg_id = msg["header"]["msg_id"]
            self._connection.iopub.expect(msg_id)
            try:
                reply = await self._request(self._connection.shell, "shell", msg)
                features = reply["content"].get("supported_features") or []
                if "kernel subshells" not in features:
                    raise KernelDied(
                        "this ipykernel has no kernel subshells, which memex needs to answer list_scope, "
                        "submit and spawn_agent while code runs; install ipykernel>=7.4,<8"
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._connection.iopub.next(msg_id), _IOPUB_JOIN)
                    return
                # IOPub joined too late to see it (ZeroMQ's slow joiner): ask again
            finally:
                self._connection.iopub.forget(msg_id)

    async def _new_subshell(self) -> str:
        """A new subshell of the kernel: a thread that runs requests sent to it (by its id in the
        header) concurrently with the main shell, in the same namespace."""
        reply = await self._request(self._connection.control, "control", self._session.msg("create_subshell_request"))
        content = reply["content"]
        if content.get("status") != "ok" or not isinstance(content.get("subshell_id"), str):
            raise KernelDied(f"it could not create a subshell: {content.get('evalue', content)}")
        return cast(str, content["subshell_id"])

    async def replace_subshell(self) -> None:
        """Send later calls to a new subshell. The old one is left to finish whatever it is stuck in:
        deleting a subshell joins its thread on the kernel's shell-channel thread, which would stop
        every request of the kernel until the stuck code returns."""
        self._subshell = await self._unless_dead(self._new_subshell())
        self.abandoned_subshells += 1

    async def _request(self, inbox: Inbox, channel: Channel, msg: Message) -> Message:
        """Send `msg` on `channel` and return its reply, read from `inbox`."""
        msg_id = msg["header"]["msg_id"]
        inbox.expect(msg_id)
        try:
            await self._connection.send(channel, msg)
            return await inbox.next(msg_id)
        finally:
            inbox.forget(msg_id)

    async def execute(self, code: str, out: CellOutput) -> None:
        """Run `code`, filling `out` as messages arrive, until the kernel is idle again.

        `out.began` is set when the kernel begins this code. Raises KernelDied if the process exits
        first; `out.started` then says whether the code may have run. Cancel it to stop waiting;
        `out` keeps what arrived so far.
        """
        try:
            await self._unless_dead(self._execute(code, out))
        except KernelDied:
            if out.request is not None and self.began(out.request):
                out.started = True
            raise

    def began(self, msg_id: str) -> bool:
        """Whether this kernel, now exited, had begun execute request `msg_id` (its marker says so)."""
        marker = self._connection.marker
        if self._last_begun is None and marker is not None and self._connection.exited():
            self._last_begun = read_marker(marker)
        return self._last_begun == msg_id

    async def _execute(self, code: str, out: CellOutput) -> None:
        self._connection.look()
        if self._connection.exited():
            raise KernelDied(self.exit_description())
        msg = self._execute_request(code, store_history=True)
        msg_id = out.request = msg["header"]["msg_id"]
        self._connection.iopub.expect(msg_id)
        self._connection.shell.expect(msg_id)
        try:
            await self._connection.send("shell", msg)
            await self._collect(msg_id, out)
            reply = await self._connection.shell.next(msg_id)
        finally:
            self._connection.iopub.forget(msg_id)
            self._connection.shell.forget(msg_id)
        report = reply["metadata"].get(REPORT_KEY)
        out.report = CellReport.model_validate(report) if report is not None else None

    def _execute_request(self, code: str, **options: Any) -> Message:
        content = {
            "code": code,
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": False,
            **options,
        }
        message: Message = self._session.msg("execute_request", content)
        return message

    async def _collect(self, msg_id: str, out: CellOutput) -> None:
        """Fill `out` from request `msg_id`'s IOPub messages until the kernel says it is idle."""
        while True:
            msg = await self._connection.iopub.next(msg_id)
            kind, content = msg["msg_type"], msg["content"]
            if kind == "status":
                if content["execution_state"] == "idle":
                    break
                # `busy`: the kernel has begun this request, its previous one's work done (the
                # runtime writes the checkpoint before it says busy, and echoes no execute_input).
                # From here on a death may be this code's doing (a segfault can come before its
                # output), so it is never run again.
                out.started = True
                out.began.set()
            elif kind == "stream":
                out.text.append(content["text"])
                await out.progressed()
            elif kind in ("execute_result", "display_data"):
                add_display(out, content["data"])
                await out.progressed()
            elif kind == "error":
                out.raw_error = f"{content['ename']}: {content['evalue']}"

    async def call(self, request: RuntimeCall[R], *, concurrent: bool = False) -> R:
        """Send `request` to the runtime's `__memex__` object and return its reply model.

        `concurrent`: run it on the kernel's subshell, at once, beside whatever the main shell runs
        (a cell); otherwise on the main shell, after the requests before it (and, there, it can be
        interrupted). Raises RuntimeRefusal when the runtime refuses the call (its message is for
        the model), and KernelCallFailed when the call fails in the runtime or its reply does not
        fit the protocol: that is memex's fault, whatever the model asked."""
        return await self._unless_dead(self._call(request, self._subshell if concurrent else None))

    async def _call(self, request: RuntimeCall[R], subshell: str | None) -> R:
        expression = f"{RPC_NAME}({request.model_dump_json()!r})"
        msg = self._execute_request("", silent=True, user_expressions={"r": expression})
        if subshell is not None:
            msg["header"]["subshell_id"] = subshell
        reply = await self._request(self._connection.shell, "shell", msg)
        try:
            result = reply["content"]["user_expressions"]["r"]
            if result["status"] != "ok":
                raise KernelCallFailed(
                    f"the runtime's {request.method} call failed: {result.get('ename')}: {result.get('evalue')}"
                )
            answer = _RPC_REPLY.validate_python(result["data"]["application/json"])
            if isinstance(answer, RpcError):
                raise RuntimeRefusal(answer.message)
            return cast(R, type(request).reply.model_validate(answer.result))
        except (KeyError, TypeError, ValidationError) as exc:
            raise KernelCallFailed(
                f"the runtime's reply to {request.method} is not what this server expects: {_one_line(exc)}"
            ) from exc

    async def _unless_dead(self, work: Awaitable[T]) -> T:
        if self.dead.is_set():
            if asyncio.iscoroutine(work):
                work.close()  # never started: no "was never awaited" warning
            raise KernelDied(self.exit_description())
        task = asyncio.ensure_future(work)
        died = asyncio.ensure_future(self.dead.wait())
        try:
            await asyncio.wait({task, died}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            died.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if not task.done() or task.cancelled():
            raise KernelDied(self.exit_description())
        return task.result()

    @property
    def pid(self) -> int | None:
        """The kernel's process id, when it runs on this host."""
        return self._connection.pid

    def exit_description(self) -> str:
        return self._connection.exit_description()

    async def interrupt(self) -> None:
        await self._connection.interrupt()

    async def shutdown(self, now: bool = False) -> None:
        """Stop the kernel: politely, or at once (`now`) when it is hung or being replaced.

        Its files go whatever happens on the way (a dead kernel's manager can fail half-way, and
        the caller may be cancelled): the connection file, the socket directory, the marker. A
        second call waits for the first one's shutdown (killing the kernel if it is `now`), so the
        lifecycle's stop never leaves while a shutdown is still removing files."""
        if self._shutdown is None:
            self._shutdown = asyncio.ensure_future(self._stop(now))
        elif now:
            self._connection.kill()
        await asyncio.shield(self._shutdown)

    async def _stop(self, now: bool) -> None:
        connection = self._connection
        try:
            with contextlib.suppress(Exception):
                await connection.close(now=now or self.dead.is_set())
        finally:
            if connection.exited():
                self.began("")  # read the marker before it goes: a caller may still ask
            if connection.marker is not None:
                connection.marker.unlink(missing_ok=True)
            self._lifecycle.discard(Stage.PROCESSES, self)


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:400]
