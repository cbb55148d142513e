"""Start-up: process spawn → first execute_code result, and what it is made of.

The server starts its kernel before it imports the MCP SDK, so the two overlap; the series
below (each interleaved with the others, run by run) show which one the first result waits for.
A kernel alone is also what a restart costs (after a crash or an interrupt that did not stop).
"""

from __future__ import annotations

import collections
import statistics
import subprocess
import sys
import time
from typing import Any

from benchmarks.common import ROOT, runtime_config, stdio_server
from benchmarks.kernels import PLAIN_ARGV, raw_kernel

IMPORTS = {
    "python -c pass (interpreter alone)": "pass",
    "import memex_mcp.server.app (server, with the MCP SDK)": "import memex_mcp.server.app",
    "import mcp.server.mcpserver (the SDK alone)": "import mcp.server.mcpserver",
    "import memex_mcp.server.cli, .kernel (what precedes the kernel's launch)": (
        "import memex_mcp.server.cli, memex_mcp.server.kernel"
    ),
    "import ipykernel.kernelapp (the kernel's side)": "import ipykernel.kernelapp",
}
#: Kernel starts per run: they are cheap, and bimodal (see `_kernel_alone`), so take more.
KERNEL_STARTS = 3

SPAWN_FIRST = "memex-mcp: spawn → first result"
SPAWN_INIT = "memex-mcp: spawn → initialized"
INIT_FIRST = "memex-mcp: initialized → first result"
KERNEL_SPAWN = "memex-mcp: spawn → its kernel's process started (10 ms ticks)"
BARE_INIT = "bare one-tool MCP server: spawn → initialized"
MEMEX_KERNEL = "memex's kernel alone (launch and ready): start → first result"
PLAIN_KERNEL = "plain ipykernel alone, same handshake: start → first result"


async def _first_result(args: list[str], tool_call: bool) -> dict[str, float]:
    """Seconds from spawn to initialized, to the first result, and to the kernel's process start."""
    start = time.perf_counter()
    async with stdio_server(args) as served:
        initialized = time.perf_counter()
        times = {SPAWN_INIT if tool_call else BARE_INIT: initialized - start}
        if tool_call:
            result = await served.client.call_tool("execute_code", {"code": "print(1)"})
            assert not result.is_error, result
            done = time.perf_counter()
            times |= {SPAWN_FIRST: done - start, INIT_FIRST: done - initialized}
            kernel = served.find_kernel()
            if kernel is not None:  # process start times have the kernel's clock-tick resolution
                times[KERNEL_SPAWN] = kernel.create_time() - served.server.create_time()
    return times


async def _kernel_alone(kind: str) -> float:
    """Seconds from starting a kernel to the result of its first print(1), no MCP.

    Both handshakes wait for an IOPub message about a kernel_info reply; when IOPub connected
    too late to see it (ZeroMQ's slow joiner) they wait out the timeout and ask again.
    """
    start = time.perf_counter()
    if kind == PLAIN_KERNEL:
        async with raw_kernel(PLAIN_ARGV, "ipc") as raw:
            await raw.run()
            return time.perf_counter() - start
    from memex_mcp.server import kernel as memex_kernel
    from memex_mcp.server.output import CellOutput

    kernel = await memex_kernel.Kernel.launch(ROOT, runtime_config())
    await kernel.ready()
    try:
        await kernel.execute("print(1)", CellOutput())
        return time.perf_counter() - start
    finally:
        await kernel.shutdown(now=True)


def _wall(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    return time.perf_counter() - start


def import_profile(module: str = "memex_mcp.server.app", top: int = 6) -> list[tuple[str, float]]:
    """`-X importtime`'s own time per top-level package, largest first (ms)."""
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    by_package: collections.Counter[str] = collections.Counter()
    for line in err.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if len(fields) == 3 and fields[0].strip().isdigit():
            by_package[fields[2].strip().split(".")[0]] += int(fields[0])
    return [(name, us / 1000) for name, us in by_package.most_common(top)]


async def run(runs: int) -> dict[str, Any]:
    """Median, min and max (ms) of each series; the import profile of the server."""
    samples: dict[str, list[float]] = collections.defaultdict(list)
    for _ in range(runs):  # one of each per run: noise spreads over all of them
        for args, tool_call in ((["-m", "memex_mcp"], True), (["-m", "benchmarks.bare_server"], False)):
            for key, value in (await _first_result(args, tool_call)).items():
                samples[key].append(value)
        for _ in range(KERNEL_STARTS):
            for kind in (MEMEX_KERNEL, PLAIN_KERNEL):
                samples[kind].append(await _kernel_alone(kind))
        for label, code in IMPORTS.items():
            samples[label].append(_wall(code))
    order = [
        SPAWN_FIRST,
        SPAWN_INIT,
        INIT_FIRST,
        KERNEL_SPAWN,
        BARE_INIT,
        MEMEX_KERNEL,
        PLAIN_KERNEL,
        *IMPORTS,
    ]
    rows = {
        label: {
            "median": 1000 * statistics.median(samples[label]),
            "min": 1000 * min(samples[label]),
            "max": 1000 * max(samples[label]),
            "n": len(samples[label]),
        }
        for label in order
    }
    return {"rows": rows, "import_profile": import_profile(), "runs": runs}
