"""Warm round trip of execute_code("print(1)"), layer by layer, all series in one run.

Each series peels one layer off the full path (MCP client → stdio → server → jupyter_client →
kernel), so differences between series say where the time goes. The machine is shared and
noisy, so the series are interleaved: every round runs a block of each, in a rotating order,
and a burst of noise lands on all of them instead of on whichever ran at that moment.
"""

from __future__ import annotations

import math
from contextlib import AsyncExitStack
from typing import Any

from benchmarks import series as s
from benchmarks.kernels import PLAIN_ARGV, memex_argv
from benchmarks.whatif import before

WARMUP = 20


async def _product(stack: AsyncExitStack) -> list[s.Series]:
    return [
        await s.stdio(stack, "memex", "memex-mcp over stdio (the product)", ["-m", "memex_mcp"]),
        await s.stdio(stack, "bare", "bare one-tool MCP server over stdio", ["-m", "benchmarks.bare_server"]),
        await s.scratchpad_layer(stack),
        await s.kernel_layer(stack),
        await s.raw(stack, "raw_memex", "raw jupyter_client → memex's kernel, ipc", memex_argv()),
        await s.raw(
            stack,
            "raw_noext",
            "raw jupyter_client → memex's kernel without its runtime, ipc",
            memex_argv(runtime=False),
        ),
        await s.raw(stack, "raw_ipc", "raw jupyter_client → plain ipykernel, ipc", PLAIN_ARGV),
        await s.raw(stack, "raw_tcp", "raw jupyter_client → plain ipykernel, tcp", PLAIN_ARGV, "tcp"),
    ]


async def _before(stack: AsyncExitStack) -> list[s.Series]:
    """The same path at the commits before the warm-path changes and before long work
    (see benchmarks/whatif/before.py)."""
    long_work = ["-m", before.__name__, before.LONG_WORK]
    return [
        await s.stdio(stack, "before", f"before: memex-mcp over stdio at {before.SHORT}", ["-m", before.__name__]),
        await s.stdio(stack, "before_long", f"before: memex-mcp over stdio at {before.LONG_WORK[:7]}", long_work),
    ]


async def run(calls: int, rounds: int = 10, warmup: int = WARMUP, whatif: bool = True) -> dict[str, dict[str, Any]]:
    """p50/p95/mean (ms), the kernel's own busy → idle p50 and CPU ms per call of each series;
    `whatif` adds memex as it was before its warm-path changes."""
    async with AsyncExitStack() as stack:
        series = await _product(stack) + (await _before(stack) if whatif else [])
        for one in series:
            await one.block(warmup, record=False)
        per_round = math.ceil(calls / rounds)
        for r in range(rounds):
            shift = r % len(series)
            for one in series[shift:] + series[:shift]:
                await one.block(per_round)
        return {one.key: one.result() for one in series}
