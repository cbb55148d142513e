"""One kernel process: start it, run code and collect its output in order, call the runtime.

A `Kernel` is one incarnation. When it dies it stays dead; `Scratchpad` replaces it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Awaitable
from pathlib import Path
from typing import Annotated, Any, TypeVar, cast

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from memex_mcp.protocol import CONFIG_ENV, REPORT_KEY, RPC_NAME, CellReport, RpcError, RpcOk, RuntimeCall, RuntimeConfig

# The one runtime module the server loads: both sides must agree on where the marker is and what it
# holds, and it imports only the standard library.
from memex_mcp.runtime.cells.marker import MARKER_ENV, marker_path, read_marker
from memex_mcp.server.errors import KernelCallFailed, MemexError, RuntimeRefusal
from memex_mcp.server.inbox import Inbox, Message
from memex_mcp.server.lifecycle import Lifecycle, Stage
from memex_mcp.server.output import CellOutput, add_display
from memex_mcp.server.sandbox import Confinement, Setting, choose

T = TypeVar("T")
R = TypeVar("R", bound=BaseModel)

_RPC_REPLY: TypeAdapter[RpcOk | RpcError] = TypeAdapter(Annotated[RpcOk | RpcError, Field(discriminator="status")])

_KERNEL_NAME = "memex-python"
#: How long a kernel_info's IOPub status may take once its reply is in. It comes within a few
#: milliseconds when IOPub is connected; when it is not (ZeroMQ's slow joiner: the subscription
#: reached the kernel after the status went out) asking again is cheap, waiting long is not.
_IOPUB_JOIN = 0.05
#: How long a kernel that exited while starting may take to finish saying why (its stderr's end).
_LAST_WORDS = 1.0
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


class _SpecManager(KernelSpecManager):
    """Always this interpreter with the runtime loaded, whatever kernelspecs the machine has."""

    def __init__(self, confinement: Confinement | None = None) -> None:
        super().__init__()
        self._confinement = confinement

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        confinement = self._confinement
        argv = confinement.argv(_KERNEL_ARGV) if confinement is not None else _KERNEL_ARGV
        # A signal to bubblewrap does not reach the kernel inside: interrupt with a message instead.
        interrupt = "message" if confinement is not None and confinement.mechanism == "bubblewrap" else "signal"
        return KernelSpec(
            argv=argv, display_name="memex", language="python", env={"PYTHONUNBUFFERED": "1"}, interrupt_mode=interrupt
        )


class KernelDied(MemexError):
    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class Kernel:
    def __init__(
        self,
        manager: AsyncKernelManager,
        config: RuntimeConfig,
        lifecycle: Lifecycle,
        confinement: Confinement | None = None,
    ) -> None:
        self._km = manager
        self.config = config
        self._lifecycle = lifecycle
        self._shutdown: asyncio.Future[None] | None = None
        self._kc = manager.client()
        self.dead = asyncio.Event()
        self._exit_code: int | None = None
        self._stderr_tail: deque[str] = deque(maxlen=20)
        #: Set once the kernel's stderr has been read to its end.
        self._stderr_read = threading.Event()
        process = getattr(manager.provisioner, "process", None)
        #: The process itself: the provisioner forgets it once it has been waited for.
        self._process: subprocess.Popen[bytes] | None = process
        #: Where the kernel names the execute request it began (see memex_mcp.runtime.cells.marker).
        self._confinement = confinement
        key = (confinement and confinement.marker_key) or (process.pid if process is not None else None)
        self._marker = marker_path(config.session_dir, key) if key is not None else None
        #: The marker's last word, read once the process has exited.
        self._last_begun: str | None = None
        self._shell = Inbox(self._kc.shell_channel.socket, self._kc.session)
        self._iopub = Inbox(self._kc.iopub_channel.socket, self._kc.session)
        self._control = Inbox(self._kc.control_channel.socket, self._kc.session)
        #: The subshell that runs concurrent runtime calls (see `call`), once the kernel is ready.
        self._subshell: str | None = None
        #: Subshells given up on: each is still stuck in a call, and a stuck one cannot be deleted.
        self.abandoned_subshells = 0

    @classmethod
    async def start(
        cls, workdir: Path, config: RuntimeConfig, lifecycle: Lifecycle | None = None, sandbox: Setting = "none"
    ) -> Kernel:
        """Launch a kernel and wait until it answers."""
        kernel = await cls.launch(workdir, config, lifecycle, sandbox)
        await kernel.ready()
        return kernel

    @classmethod
    async def launch(
        cls, workdir: Path, config: RuntimeConfig, lifecycle: Lifecycle | None = None, sandbox: Setting = "none"
    ) -> Kernel:
        """Start the process and return at once; `ready()` waits for it to answer. The kernel is
        stopped with `lifecycle` unless it is shut down first (default: only by `shutdown`).
        `sandbox`: how to confine it (memex_mcp.server.sandbox; raises SandboxUnavailable)."""
        lifecycle = lifecycle or Lifecycle()
        if lifecycle.stopping:
            raise KernelDied("the server is shutting down")
        mechanism = await asyncio.to_thread(choose, sandbox) if sandbox != "none" else None  # probed once
        async with lifecycle.launching():
            directory = Path(tempfile.mkdtemp(prefix="memex-"))
            confinement = Confinement(mechanism, directory, config) if mechanism is not None else None
            return await cls._launch(workdir, config, lifecycle, directory, confinement)

    @classmethod
    async def _launch(
        cls,
        workdir: Path,
        config: RuntimeConfig,
        lifecycle: Lifecycle,
        directory: Path,
        confinement: Confinement | None,
    ) -> Kernel:
        km = AsyncKernelManager(kernel_name=_KERNEL_NAME, kernel_spec_manager=_SpecManager(confinement))
        if os.name == "posix":
            # ipc skips TCP; the sockets live in the kernel's private temporary directory.
            km.transport = "ipc"
            km.ip = str(directory / "kernel")
        elif confinement is None:
            directory.rmdir()  # TCP transport: nothing of the kernel's goes there
        # The kernel must never write to our stdout: under stdio it carries the MCP stream. Its
        # stderr echoes what cells write to descriptor 2; only the tail is kept, to explain a
        # kernel that fails to start.
        env = {**os.environ, CONFIG_ENV: config.model_dump_json()}
        env.pop(MARKER_ENV, None)
        if confinement is not None:
            # The connection file where the confined kernel can read it, beside its sockets.
            km.connection_file = str(directory / "kernel.json")
            env.update(confinement.env())
            env[CONFIG_ENV] = confinement.runtime_config().model_dump_json()
            if confinement.marker_key is not None:
                env[MARKER_ENV] = confinement.marker_key
            workdir = confinement.cwd
        try:
            await km.start_kernel(
                cwd=str(workdir), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
        except BaseException:
            with contextlib.suppress(BaseException):
                await km.shutdown_kernel(now=True)  # a process that did start must not run on
            _remove_kernel_files(km)
            shutil.rmtree(directory, ignore_errors=True)
            raise
        kernel = cls(km, config, lifecycle, confinement)
        if lifecycle.stopping:  # it stopped while this one was starting: it would be left running
            await kernel.shutdown(now=True)
            raise KernelDied("the server is shutting down")
        lifecycle.add(Stage.PROCESSES, kernel, lambda: kernel.shutdown(now=True))
        kernel._watch_process()
        kernel._drain_stderr()
        kernel._kc.start_channels()
        return kernel

    async def ready(self) -> None:
        """Wait until the kernel answers; a kernel that exits first is shut down and reported."""
        try:
            await self._ready()
        except BaseException:
            await self.shutdown()
            raise

    async def _ready(self) -> None:
        try:
            await self._unless_dead(self._handshake())
            self._subshell = await self._unless_dead(self._new_subshell())
        except KernelDied:
            # Its last words may still be in the pipe: the reader ends at the pipe's end.
            await asyncio.to_thread(self._stderr_read.wait, _LAST_WORDS)
            said = "; ".join(line.strip() for line in self._stderr_tail if line.strip())
            raise KernelDied(
                f"it exited while starting ({self.exit_description()})" + (f"; it said: {said[-1000:]}" if said else "")
            ) from None

    async def _handshake(self) -> None:
        """A kernel_info reply, and an IOPub message about it: both channels are connected.

        jupyter_client's wait_for_ready ends by draining IOPub until it has been quiet for
        0.2 s, which is 0.2 s on every start; this waits for exactly the message it needs.
        """
        while True:
            msg = self._kc.session.msg("kernel_info_request")
            msg_id = msg["header"]["msg_id"]
            self._iopub.expect(msg_id)
            try:
                reply = await self._request(self._shell, self._kc.shell_channel, msg)
                features = reply["content"].get("supported_features") or []
                if "kernel subshells" not in features:
                    raise KernelDied(
                        "this ipykernel has no kernel subshells, which memex needs to answer list_scope, "
                        "submit and spawn_agent while code runs; install ipykernel>=7.4,<8"
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._iopub.next(msg_id), _IOPUB_JOIN)
                    return
                # IOPub joined too late to see it (ZeroMQ's slow joiner): ask again
            finally:
                self._iopub.forget(msg_id)

    async def _new_subshell(self) -> str:
        """A new subshell of the kernel: a thread that runs requests sent to it (by its id in the
        header) concurrently with the main shell, in the same namespace."""
        reply = await self._request(
            self._control, self._kc.control_channel, self._kc.session.msg("create_subshell_request")
        )
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

    async def _request(self, inbox: Inbox, channel: Any, msg: Message) -> Message:
        """Send `msg` on `channel` and return its reply, read from `inbox`."""
        msg_id = msg["header"]["msg_id"]
        inbox.expect(msg_id)
        try:
            channel.send(msg)
            return await inbox.next(msg_id)
        finally:
            inbox.forget(msg_id)

    def _drain_stderr(self) -> None:
        pipe = getattr(getattr(self._km.provisioner, "process", None), "stderr", None)
        if pipe is None:
            self._stderr_read.set()
            return

        def drain() -> None:
            try:
                for line in pipe:
                    self._stderr_tail.append(line.decode(errors="replace"))
            finally:
                self._stderr_read.set()

        threading.Thread(target=drain, name="memex-kernel-stderr", daemon=True).start()

    def _watch_process(self) -> None:
        """Set `dead` the moment the process exits: a pidfd wakes the loop, no polling."""
        process = self._process
        pidfd_open = getattr(os, "pidfd_open", None)
        if process is None or pidfd_open is None:
            asyncio.get_running_loop().create_task(self._poll_process())
            return
        fd = pidfd_open(process.pid)
        loop = asyncio.get_running_loop()

        def on_exit() -> None:
            loop.remove_reader(fd)
            os.close(fd)
            self._exit_code = process.poll()
            self.dead.set()

        loop.add_reader(fd, on_exit)

    async def _poll_process(self) -> None:
        # Fallback where pidfds do not exist (macOS): the provisioner's own wait loop.
        self._exit_code = await self._km.provisioner.wait() if self._km.provisioner else None
        self.dead.set()

    def _exited(self) -> bool:
        """Whether the process has exited, even if the loop has not seen its pidfd yet."""
        process = self._process
        if process is None or process.poll() is None:
            return False
        self._exit_code = process.returncode
        self.dead.set()
        return True

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def exit_description(self) -> str:
        code = self._exit_code
        if code is not None and code > 128 and self._confinement is not None and self._confinement.wrapped:
            code = 128 - code  # the wrapper's way of saying the kernel was killed by signal code - 128
        if code is None:
            return "exit status unknown"
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"killed by {signal.Signals(-code).name}"
            return f"killed by signal {-code}"
        return f"exit code {code}"

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
        if self._last_begun is None and self._marker is not None and self._exited():
            self._last_begun = read_marker(self._marker)
        return self._last_begun == msg_id

    async def _execute(self, code: str, out: CellOutput) -> None:
        if self._exited():
            raise KernelDied(self.exit_description())
        msg = self._execute_request(code, store_history=True)
        msg_id = out.request = msg["header"]["msg_id"]
        self._iopub.expect(msg_id)
        self._shell.expect(msg_id)
        try:
            self._kc.shell_channel.send(msg)
            await self._collect(msg_id, out)
            reply = await self._shell.next(msg_id)
        finally:
            self._iopub.forget(msg_id)
            self._shell.forget(msg_id)
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
        return cast(Message, self._kc.session.msg("execute_request", content))

    async def _collect(self, msg_id: str, out: CellOutput) -> None:
        """Fill `out` from request `msg_id`'s IOPub messages until the kernel says it is idle."""
        while True:
            msg = await self._iopub.next(msg_id)
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
        reply = await self._request(self._shell, self._kc.shell_channel, msg)
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

    async def interrupt(self) -> None:
        await self._km.interrupt_kernel()

    async def shutdown(self, now: bool = False) -> None:
        """Stop the kernel: politely, or at once (`now`) when it is hung or being replaced.

        Its files go whatever happens on the way (a dead kernel's manager can fail half-way, and
        the caller may be cancelled): the connection file, the socket directory, the marker. A
        second call waits for the first one's shutdown (killing the process if it is `now`), so the
        lifecycle's stop never leaves while a shutdown is still removing files."""
        if self._shutdown is None:
            self._shutdown = asyncio.ensure_future(self._stop(now))
        elif now and self._process is not None and self._process.poll() is None:
            with contextlib.suppress(OSError):
                self._process.kill()
        await asyncio.shield(self._shutdown)

    async def _stop(self, now: bool) -> None:
        try:
            self._kc.stop_channels()
            with contextlib.suppress(Exception):
                await self._km.shutdown_kernel(now=now or self.dead.is_set())
        finally:
            if self._exited():
                self.began("")  # read the marker before it goes: a caller may still ask
            self._remove_files()
            self._lifecycle.discard(Stage.PROCESSES, self)

    def _remove_files(self) -> None:
        if self._marker is not None:
            self._marker.unlink(missing_ok=True)
        _remove_kernel_files(self._km)


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:400]


def _remove_kernel_files(km: AsyncKernelManager) -> None:
    """The connection file and the private socket directory of `km`'s kernel."""
    if km.connection_file:
        with contextlib.suppress(OSError):
            os.remove(km.connection_file)
    if km.transport == "ipc":
        shutil.rmtree(Path(km.ip).parent, ignore_errors=True)
