"""A downstream MCP tool called from a cell (`tools.<server>.<tool>()`) against an MCP client calling it directly.

One run, one downstream server program (tests/downstream_server.py, a stdio MCPServer): the
baseline is this process's MCP client calling its `greet` tool; the series are the same call made
from kernel code through memex (timed in the kernel), and a cell that makes it (timed in the client).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters, types

from benchmarks.common import ROOT, settings, summary
from memex_mcp.server import build_server

SERVER = str(ROOT / "tests" / "downstream_server.py")
THREADS = 4

SERIES = """\
import json, os, time
from concurrent.futures import ThreadPoolExecutor

def _timed(call, n):
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples

_n = int(os.environ["MEMEX_BENCH_CALLS"])
_greet = lambda: tools.bench.greet(name="x")

def _concurrent(n, threads=4):  # as THREADS
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda _: _greet(), range(n)))
    return (time.perf_counter() - started) / n
"""


async def _cell(client: Client, code: str) -> Any:
    result = await client.call_tool("execute_code", {"code": code})
    first = result.content[0]
    assert not result.is_error and isinstance(first, types.TextContent), result
    return json.loads(first.text)


async def run(calls: int) -> dict[str, dict[str, float]]:
    """p50/p95/mean (ms) per series; `concurrent` is wall time per call with 4 threads calling at once."""
    params = StdioServerParameters(command=sys.executable, args=[SERVER])
    direct = []
    async with Client(params) as client:
        for _ in range(20):
            await client.call_tool("greet", {"name": "x"})
        for _ in range(calls):
            started = time.perf_counter()
            await client.call_tool("greet", {"name": "x"})
            direct.append(time.perf_counter() - started)

    config = Path(tempfile.mkdtemp(prefix="memex-bench-")) / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"bench": {"command": sys.executable, "args": [SERVER]}}}))
    os.environ["MEMEX_BENCH_CALLS"] = str(calls)  # the kernel inherits it: no generated code
    async with Client(build_server(settings(output_limit=10_000_000, mcp_config=config))) as client:
        await client.call_tool("execute_code", {"code": SERIES})
        await _cell(client, "print(json.dumps(_timed(_greet, 20)))")  # warm-up: list the tools, connect
        kernel = await _cell(client, "print(json.dumps(_timed(_greet, _n)))")
        cell = []
        for _ in range(calls):
            started = time.perf_counter()
            await client.call_tool("execute_code", {"code": "_greet()"})
            cell.append(time.perf_counter() - started)
        pass_ = []
        for _ in range(calls):
            started = time.perf_counter()
            await client.call_tool("execute_code", {"code": "pass"})
            pass_.append(time.perf_counter() - started)
        concurrent = await _cell(client, "print(json.dumps(_concurrent(_n)))")
    return {
        "direct": summary(direct),
        "kernel": summary(kernel),
        "cell": summary(cell),
        "pass": summary(pass_),
        "concurrent": {"p50": 1000 * concurrent, "p95": float("nan"), "mean": 1000 * concurrent},
    }


def section(rows: dict[str, dict[str, float]], command: str, when: str) -> str:
    labels = {
        "direct": "an MCP client calls the tool directly over stdio (baseline)",
        "kernel": "tools.bench.greet(name=…) from kernel code, timed in the kernel",
        "concurrent": f"… the same from {THREADS} threads at once, wall time per call",
        "cell": 'execute_code("tools.bench.greet(…)"), timed in the client',
        "pass": 'execute_code("pass"), timed in the client (for comparison)',
    }
    base = rows["direct"]["p50"]
    lines = [
        "## Downstream MCP tools from a cell",
        "",
        f"`{command}`, {when}: one downstream server program (tests/downstream_server.py over stdio), "
        "its `greet` tool returning a short text. Milliseconds; the ratio is p50 against the baseline "
        "of the same run.",
        "",
        "| series | p50 | p95 | mean | × baseline |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, label in labels.items():
        r = rows[key]
        p95 = "–" if r["p95"] != r["p95"] else f"{r['p95']:.2f}"
        lines.append(f"| {label} | {r['p50']:.2f} | {p95} | {r['mean']:.2f} | {r['p50'] / base:.2f} |")
    extra = rows["kernel"]["p50"] - base
    lines += [
        "",
        f"From kernel code a tool call costs about {extra:.2f} ms more than a direct MCP call (the "
        "kernel → memex channel hop and the conversion to Python objects). The machine is shared and "
        "noisy: compare rows of one run.",
    ]
    return "\n".join(lines)
