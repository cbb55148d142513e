"""Memory at idle after a few calls: memex's server and kernel, beside a bare MCP server and a plain kernel.

RSS counts shared libraries in every process that maps them; USS is what the process alone
holds (what quitting it would free); peak is the kernel's VmHWM, the highest RSS so far.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psutil  # type: ignore[import-untyped]  # IPython depends on it

from benchmarks.common import proc_status_kb, stdio_server
from benchmarks.kernels import PLAIN_ARGV, raw_kernel

CALLS = ["import json", "x = list(range(100_000))", "print(len(x))", "del x", "print(1)"]


def _measure(process: psutil.Process) -> dict[str, float]:
    info = process.memory_full_info()
    return {
        "rss": info.rss / 2**20,
        "uss": info.uss / 2**20,
        "peak": proc_status_kb(process.pid, "VmHWM") / 2**10,
    }


async def run() -> dict[str, dict[str, float]]:
    rows: dict[str, dict[str, float]] = {}
    async with stdio_server(["-m", "memex_mcp"]) as memex:
        for code in CALLS:
            result = await memex.client.call_tool("execute_code", {"code": code})
            assert not result.is_error, result
        await asyncio.sleep(1)  # idle: let late frees and the IOPub flush timer settle
        kernel = memex.find_kernel()
        rows["memex-mcp server process"] = _measure(memex.server)
        if kernel is not None:
            rows["memex-mcp kernel process"] = _measure(kernel)
            rows["memex-mcp server + kernel"] = {
                key: rows["memex-mcp server process"][key] + rows["memex-mcp kernel process"][key]
                for key in ("rss", "uss", "peak")
            }
    async with stdio_server(["-m", "benchmarks.bare_server"]) as bare:
        for code in CALLS:
            await bare.client.call_tool("execute_code", {"code": code})
        rows["bare one-tool MCP server"] = _measure(bare.server)
    async with raw_kernel(PLAIN_ARGV, "ipc") as plain:
        for code in CALLS:
            await plain.run(code)
        await asyncio.sleep(1)
        rows["plain ipykernel, same cells"] = _measure(plain.process)
    return rows


def as_table(rows: dict[str, Any]) -> list[str]:
    lines = ["| process | RSS (MiB) | USS (MiB) | peak RSS, VmHWM (MiB) |", "|---|---:|---:|---:|"]
    for name, row in rows.items():
        lines.append(f"| {name} | {row['rss']:.1f} | {row['uss']:.1f} | {row['peak']:.1f} |")
    return lines
