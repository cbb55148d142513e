"""Start-up: process start → first execute_code result, and initialize → first result; idle memory."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from mcp import Client, StdioServerParameters

SERVER = StdioServerParameters(command=sys.executable, args=["-m", "memex_mcp"])


async def first_result(runs: int) -> dict[str, float]:
    to_first, init_to_first = [], []
    for _ in range(runs):
        start = time.perf_counter()
        async with Client(SERVER) as client:
            initialized = time.perf_counter()
            await client.call_tool("execute_code", {"code": "print(1)"})
            done = time.perf_counter()
        to_first.append(done - start)
        init_to_first.append(done - initialized)
    return {
        "process start → first result (ms, median)": 1000 * statistics.median(to_first),
        "initialize → first result (ms, median)": 1000 * statistics.median(init_to_first),
    }


def import_time(module: str, runs: int = 5) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
        samples.append(time.perf_counter() - start)
    return 1000 * statistics.median(samples)


def _rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0


async def idle_memory() -> dict[str, float]:
    async with Client(SERVER) as client:
        for _ in range(5):
            await client.call_tool("execute_code", {"code": "x = 1"})
        pid_text = await client.call_tool("execute_code", {"code": "import os\nos.getpid(), os.getppid()"})
        kernel, server = (int(n) for n in pid_text.content[0].text.strip("()").split(","))  # type: ignore[union-attr]
        return {
            "server RSS (MB)": _rss_kb(server, "VmRSS") / 1024,
            "kernel RSS (MB)": _rss_kb(kernel, "VmRSS") / 1024,
            "server + kernel peak RSS (MB)": (_rss_kb(server, "VmHWM") + _rss_kb(kernel, "VmHWM")) / 1024,
        }


async def run(runs: int) -> dict[str, float]:
    results = await first_result(runs)
    results["bare Python start (ms)"] = import_time("sys")
    results["import of the server with the MCP SDK (ms)"] = import_time("memex_mcp.server.app")
    results["import of jupyter_client + ipykernel (ms)"] = import_time("ipykernel.kernelapp")
    results.update(await idle_memory())
    return results
