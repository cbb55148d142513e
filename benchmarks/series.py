"""One latency series: a round trip to repeat, the processes whose CPU it costs, and its samples."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import psutil  # type: ignore[import-untyped]  # IPython depends on it

from benchmarks.common import ROOT, cpu_seconds, runtime_config, stdio_server, summary
from benchmarks.common import settings as bench_settings
from benchmarks.kernels import raw_kernel

CODE = "print(1)"


@dataclass
class Series:
    key: str
    label: str
    #: One round trip; returns the kernel's busy → idle seconds when it can see them.
    call: Callable[[], Awaitable[float | None]]
    server: psutil.Process | None = None
    kernel: psutil.Process | None = None
    samples: list[float] = field(default_factory=list)
    in_kernel: list[float] = field(default_factory=list)
    #: CPU seconds over the recorded calls: this process (client, or in-process layers), the
    #: server process, the kernel process (every thread of each).
    cpu: dict[str, float] = field(default_factory=lambda: dict.fromkeys(("here", "server", "kernel"), 0.0))

    async def block(self, n: int, record: bool = True) -> None:
        before = (time.process_time(), cpu_seconds(self.server), cpu_seconds(self.kernel))
        for _ in range(n):
            start = time.perf_counter()
            in_kernel = await self.call()
            elapsed = time.perf_counter() - start
            if record:
                self.samples.append(elapsed)
                if in_kernel is not None:
                    self.in_kernel.append(in_kernel)
        if record:
            after = (time.process_time(), cpu_seconds(self.server), cpu_seconds(self.kernel))
            for name, b, a in zip(self.cpu, before, after, strict=True):
                self.cpu[name] += a - b

    def result(self) -> dict[str, Any]:
        n = len(self.samples)
        row: dict[str, Any] = {"label": self.label, "calls": n, **summary(self.samples)}
        row["in_kernel_p50"] = summary(self.in_kernel)["p50"] if self.in_kernel else None
        row.update({f"cpu_{name}": 1000 * total / n for name, total in self.cpu.items()})
        return row


def _new_child(before: set[int]) -> psutil.Process:
    """The kernel this process just started (memex's in-process layers start their own)."""
    return next(p for p in psutil.Process().children() if p.pid not in before)


async def stdio(stack: AsyncExitStack, key: str, label: str, args: list[str]) -> Series:
    """execute_code over stdio, through the SDK's client, against `python <args>`."""
    served = await stack.enter_async_context(stdio_server(args))

    async def call() -> None:
        result = await served.client.call_tool("execute_code", {"code": CODE})
        assert not result.is_error, result

    await call()  # memex: the kernel exists (and is ready) once a call has come back
    return Series(key, label, call, served.server, served.find_kernel())


async def raw(
    stack: AsyncExitStack, key: str, label: str, argv: list[str], transport: str = "ipc", lean: bool = False
) -> Series:
    """jupyter_client straight to a kernel started with `argv`."""
    kernel = await stack.enter_async_context(raw_kernel(argv, transport, lean))
    return Series(key, label, kernel.run, kernel=kernel.process)


async def kernel_layer(stack: AsyncExitStack) -> Series:
    """memex's Kernel.execute: its task per call, the death watch, CellOutput and the report."""
    from memex_mcp.server.kernel import Kernel
    from memex_mcp.server.output import CellOutput

    before = {p.pid for p in psutil.Process().children()}
    kernel = await Kernel.launch(ROOT, runtime_config())
    await kernel.ready()
    stack.push_async_callback(kernel.shutdown)

    async def call() -> None:
        await kernel.execute(CODE, CellOutput())

    return Series("kernel", "memex Kernel.execute, in process", call, kernel=_new_child(before))


async def scratchpad_layer(stack: AsyncExitStack) -> Series:
    """Everything memex does per call except MCP: the FIFO lock, timeout supervision, render."""
    from memex_mcp.server.render import render_execution
    from memex_mcp.server.scratchpad import Scratchpad

    settings = bench_settings()
    before = {p.pid for p in psutil.Process().children()}
    scratchpad = await stack.enter_async_context(Scratchpad(settings, ROOT))
    await scratchpad.execute(CODE)  # starts its kernel

    async def call() -> None:
        await render_execution(await scratchpad.execute(CODE), settings)

    return Series("scratchpad", "memex Scratchpad.execute + render, in process", call, kernel=_new_child(before))
