"""Kernels driven by jupyter_client directly, with no MCP and no memex server code in the way.

The plain kernel is ipykernel as Jupyter starts it; "memex's kernel" is the same command line
memex starts (its launcher, flags and runtime extension), so the two differ only by memex.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]  # IPython depends on it
from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager

from benchmarks.common import ROOT
from benchmarks.whatif import lean

PLAIN_ARGV = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]


def memex_argv(*extra: str, runtime: bool = True) -> list[str]:
    """The kernel command line memex uses (read from memex, so it follows changes there).

    `runtime=False` leaves out memex's runtime extension and keeps its other flags.
    """
    from memex_mcp.server.kernel import _KERNEL_ARGV

    return [arg for arg in _KERNEL_ARGV if runtime or not arg.startswith("--ext=")] + list(extra)


class _Spec(KernelSpecManager):
    """This argv, whatever kernelspecs the machine has installed."""

    argv: list[str] = PLAIN_ARGV

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        # memex's runtime must import in the kernel, whose launcher takes the working directory
        # off sys.path.
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        return KernelSpec(
            argv=self.argv, display_name="bench", language="python", env={"PYTHONUNBUFFERED": "1", "PYTHONPATH": path}
        )


@dataclass
class RawKernel:
    km: AsyncKernelManager
    kc: AsyncKernelClient
    #: Read messages with benchmarks.whatif.lean instead of jupyter_client's get_*_msg.
    lean: bool = False

    @property
    def process(self) -> psutil.Process:
        return psutil.Process(self.km.provisioner.process.pid)  # type: ignore[union-attr]

    async def run(self, code: str = "print(1)") -> float:
        """One execute round trip, as memex does it: IOPub until idle, then the shell reply.

        Returns the kernel's own busy → idle time (from its message timestamps), in seconds.
        """
        iopub, shell = (
            (self._lean_iopub, self._lean_shell) if self.lean else (self.kc.get_iopub_msg, self.kc.get_shell_msg)
        )
        msg_id = self.kc.execute(code)
        busy = idle = None
        while idle is None:
            msg = await iopub()
            if msg["parent_header"].get("msg_id") != msg_id or msg["msg_type"] != "status":
                continue
            if msg["content"]["execution_state"] == "busy":
                busy = msg["header"]["date"]
            else:
                idle = msg["header"]["date"]
        while (await shell())["parent_header"].get("msg_id") != msg_id:
            pass
        return (idle - busy).total_seconds() if busy is not None else 0.0

    async def _lean_iopub(self) -> dict[str, Any]:
        return await lean.receive(self.kc.session, self.kc.iopub_channel.socket)

    async def _lean_shell(self) -> dict[str, Any]:
        return await lean.receive(self.kc.session, self.kc.shell_channel.socket)


async def handshake(kc: AsyncKernelClient) -> None:
    """A kernel_info reply and an IOPub message about it: both channels are up.

    Like memex's own handshake, and unlike `wait_for_ready`, it does not then wait 0.2 s for
    IOPub to go quiet, so start times of both kernels are comparable.
    """
    while True:
        msg_id = kc.kernel_info()
        while (await kc.get_shell_msg())["parent_header"].get("msg_id") != msg_id:
            pass
        try:
            while (await kc.get_iopub_msg(timeout=0.5))["parent_header"].get("msg_id") != msg_id:
                pass
            return
        except queue.Empty:
            continue  # IOPub subscribed too late to see it: ask again


@asynccontextmanager
async def raw_kernel(
    argv: list[str] = PLAIN_ARGV, transport: str = "tcp", lean: bool = False, timings: dict[str, float] | None = None
) -> AsyncIterator[RawKernel]:
    """A started, answering kernel. `timings` receives "start → ready" in seconds."""
    spec = _Spec()
    spec.argv = argv
    km = AsyncKernelManager(kernel_name="bench", kernel_spec_manager=spec)
    tmp = None
    if transport == "ipc":
        tmp = tempfile.TemporaryDirectory(prefix="memex-bench-")
        km.transport, km.ip = "ipc", str(Path(tmp.name) / "kernel")
    start = time.perf_counter()
    extra: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    await km.start_kernel(cwd=str(ROOT), stdin=subprocess.DEVNULL, **extra)
    kc = km.client()
    kc.start_channels()
    try:
        await handshake(kc)
        if timings is not None:
            timings["start → ready"] = time.perf_counter() - start
        yield RawKernel(km, kc, lean)
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)
        if tmp is not None:
            tmp.cleanup()
