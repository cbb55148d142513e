"""Warm round trip of execute_code("print(1)") over stdio, beside its two baselines in the same run.

- bare: a one-tool MCP server over stdio (what MCP itself costs);
- raw kernel: jupyter_client against a plain ipykernel, no MCP (what the kernel costs).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from mcp import Client, StdioServerParameters

Call = Callable[[], Awaitable[object]]


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": 1000 * ordered[len(ordered) // 2],
        "p95_ms": 1000 * ordered[int(len(ordered) * 0.95)],
        "mean_ms": 1000 * statistics.fmean(ordered),
    }


async def timed(call: Call, n: int, warmup: int = 20) -> dict[str, float]:
    for _ in range(warmup):
        await call()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return summary(samples)


async def over_stdio(args: list[str], tool: str, n: int) -> dict[str, float]:
    async with Client(StdioServerParameters(command=sys.executable, args=args)) as client:
        return await timed(lambda: client.call_tool(tool, {"code": "print(1)"}), n)


async def raw_kernel(n: int, transport: str) -> dict[str, float]:
    km = AsyncKernelManager()
    if transport == "ipc":
        km.transport = "ipc"
        km.ip = f"/tmp/memex-bench-{time.time_ns()}"
    await km.start_kernel(extra_arguments=["--HistoryManager.enabled=False"], stderr=subprocess.DEVNULL)
    kc = km.client()
    kc.start_channels()
    await kc.wait_for_ready(timeout=60)

    async def once() -> None:
        msg_id = kc.execute("print(1)")
        while True:
            msg = await kc.get_iopub_msg()
            if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                    and msg["content"]["execution_state"] == "idle"):
                break
        while (await kc.get_shell_msg())["parent_header"].get("msg_id") != msg_id:
            pass

    try:
        return await timed(once, n)
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)


async def run(n: int) -> dict[str, dict[str, float]]:
    bare = str(Path(__file__).with_name("bare_server.py"))
    return {
        "memex-mcp over stdio": await over_stdio(["-m", "memex_mcp"], "execute_code", n),
        "bare one-tool MCP server over stdio": await over_stdio([bare], "echo", n),
        "raw jupyter_client, tcp": await raw_kernel(n, "tcp"),
        "raw jupyter_client, ipc": await raw_kernel(n, "ipc"),
    }
