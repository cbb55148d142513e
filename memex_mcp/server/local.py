"""A kernel process on this host: started through jupyter_client, reached over its ZeroMQ sockets,
watched through its pid."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections import deque
from pathlib import Path

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager

from memex_mcp.protocol import CONFIG_ENV, RuntimeConfig
from memex_mcp.runtime.cells.marker import MARKER_ENV, marker_path
from memex_mcp.server.inbox import Message, SocketInbox
from memex_mcp.server.kernel import _KERNEL_ARGV, Channel, Connection
from memex_mcp.server.sandbox import Confinement, Setting, choose

_KERNEL_NAME = "memex-python"
#: How long a kernel that exited while starting may take to finish saying why (its stderr's end).
_LAST_WORDS = 1.0


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


class LocalConnection(Connection):
    def __init__(self, manager: AsyncKernelManager, config: RuntimeConfig, confinement: Confinement | None) -> None:
        self._km = manager
        self._kc = manager.client()
        self.session = self._kc.session
        self.dead = asyncio.Event()
        self._exit_code: int | None = None
        self._stderr_tail: deque[str] = deque(maxlen=20)
        #: Set once the kernel's stderr has been read to its end.
        self._stderr_read = threading.Event()
        process = getattr(manager.provisioner, "process", None)
        #: The process itself: the provisioner forgets it once it has been waited for.
        self._process: subprocess.Popen[bytes] | None = process
        self._confinement = confinement
        key = (confinement and confinement.marker_key) or (process.pid if process is not None else None)
        self.marker = marker_path(config.session_dir, key) if key is not None else None
        self.shell = SocketInbox(self._kc.shell_channel.socket, self.session)
        self.iopub = SocketInbox(self._kc.iopub_channel.socket, self.session)
        self.control = SocketInbox(self._kc.control_channel.socket, self.session)

    @classmethod
    async def launch(cls, workdir: Path, config: RuntimeConfig, sandbox: Setting) -> LocalConnection:
        """Start the process (confined as `sandbox` says) and return at once."""
        mechanism = await asyncio.to_thread(choose, sandbox) if sandbox != "none" else None  # probed once
        directory = Path(tempfile.mkdtemp(prefix="memex-"))
        confinement = Confinement(mechanism, directory, config) if mechanism is not None else None
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
            env = confinement.env(env)
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
        connection = cls(km, config, confinement)
        connection._watch_process()
        connection._drain_stderr()
        connection._kc.start_channels()
        return connection

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def open(self) -> None:
        pass  # the channels started with the process

    def look(self) -> None:
        pass  # `exited` asks the process itself

    async def send(self, channel: Channel, msg: Message) -> None:
        (self._kc.shell_channel if channel == "shell" else self._kc.control_channel).send(msg)

    async def start_failure(self) -> str:
        # Its last words may still be in the pipe: the reader ends at the pipe's end.
        await asyncio.to_thread(self._stderr_read.wait, _LAST_WORDS)
        said = "; ".join(line.strip() for line in self._stderr_tail if line.strip())
        return f"it exited while starting ({self.exit_description()})" + (f"; it said: {said[-1000:]}" if said else "")

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

    def exited(self) -> bool:
        """Whether the process has exited, even if the loop has not seen its pidfd yet."""
        process = self._process
        if process is None or process.poll() is None:
            return False
        self._exit_code = process.returncode
        self.dead.set()
        return True

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

    async def interrupt(self) -> None:
        await self._km.interrupt_kernel()

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            with contextlib.suppress(OSError):
                self._process.kill()

    async def close(self, now: bool) -> None:
        try:
            self._kc.stop_channels()
            await self._km.shutdown_kernel(now=now)
        finally:
            _remove_kernel_files(self._km)


def _remove_kernel_files(km: AsyncKernelManager) -> None:
    """The connection file and the private socket directory of `km`'s kernel."""
    if km.connection_file:
        with contextlib.suppress(OSError):
            os.remove(km.connection_file)
    if km.transport == "ipc":
        shutil.rmtree(Path(km.ip).parent, ignore_errors=True)
