"""Sub-agents in parallel: N agents, 5 turns each, with a scripted model of fixed latency, in a real
kernel through the in-process MCP client. Ideal: the wall time stays flat as N grows (every agent
waits on its model at the same time), up to the concurrency cap on model calls.

Overhead per turn is everything but the model's latency: prompt, code extraction, running the
code, output routing, bookkeeping; measured with a zero-latency model, one agent and many agents.
"""

from __future__ import annotations

import json
from typing import Any

from mcp import Client
from mcp.types import TextContent

from benchmarks.common import settings
from memex_mcp.server import build_server

COUNTS = (1, 4, 16, 64)
TURNS = 5
LATENCY = 0.2

#: Kernel-side: a model whose turns 1..4 run a little code and turn 5 submits.
SETUP = r"""
import json, time
from memex_mcp.runtime.agents import set_concurrency
from memex_mcp.runtime.models.scripted import ScriptedModel

def _bench_answer(messages, info):
    if info["turn"] < TURNS:
        return "Next step.\n```python\nrows = [i * i for i in range(200)]\nprint(len(rows), sum(rows))\n```"
    return "Done.\n```python\nsubmit(sum(rows))\n```"

def _bench(n, latency, cap):
    set_concurrency(cap)
    model = ScriptedModel(_bench_answer, latency=latency)
    started = time.perf_counter()
    results = gather(*[spawn_agent("Benchmark", model=model, max_turns=TURNS) for _ in range(n)])
    assert len(results) == n
    return time.perf_counter() - started
"""


async def _measure(client: Client, expression: str) -> Any:
    result = await client.call_tool("execute_code", {"code": f"print(json.dumps({expression}))"})
    first = result.content[0]
    assert isinstance(first, TextContent) and not result.is_error, first
    return json.loads(first.text)


async def run(repeats: int = 3) -> dict[str, Any]:
    """Medians of `repeats` runs per setting, in seconds."""
    async with Client(build_server(settings(timeout=600)), raise_exceptions=True) as client:
        await client.call_tool("execute_code", {"code": SETUP.replace("TURNS", str(TURNS))})
        await _measure(client, "_bench(2, 0.0, 8)")  # warm: imports, first threads

        async def median(n: int, latency: float, cap: int) -> float:
            runs = [float(await _measure(client, f"_bench({n}, {latency}, {cap})")) for _ in range(repeats)]
            return sorted(runs)[len(runs) // 2]

        rows = {}
        for n in COUNTS:
            rows[n] = {"uncapped": await median(n, LATENCY, max(COUNTS)), "capped": await median(n, LATENCY, 8)}
        overhead = {n: await median(n, 0.0, max(COUNTS)) / (n * TURNS) for n in (1, 16, 64)}
    return {"rows": rows, "overhead": overhead, "repeats": repeats}


def section(result: dict[str, Any], command: str, when: str) -> str:
    rows, overhead = result["rows"], result["overhead"]
    single = rows[1]["uncapped"]
    lines = [
        "## Sub-agents in parallel",
        "",
        f"`{command}`, {when}: N agents × {TURNS} turns each, a scripted model that sleeps "
        f"{LATENCY * 1000:.0f} ms per call (so one agent needs {TURNS * LATENCY:.1f} s of model time), "
        f"`gather` in one cell of a real kernel; median of {result['repeats']} runs. The ideal is flat: "
        'N agents in the time of one. "Cap 8" is the default limit on model calls in flight '
        "(RuntimeConfig.agent_concurrency); the other column lifts it to 64.",
        "",
        "| N agents | wall, cap 64 (s) | ÷ one agent | ÷ (N × one agent) | wall, cap 8 (s) | ÷ (N × one agent) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for n, row in rows.items():
        lines.append(
            f"| {n} | {row['uncapped']:.2f} | {row['uncapped'] / single:.2f} | "
            f"{row['uncapped'] / (n * single):.3f} | {row['capped']:.2f} | "
            f"{row['capped'] / (n * single):.3f} |"
        )
    single_overhead = 1000 * (single / TURNS - LATENCY)
    lines += [
        "",
        f"Overhead per agent turn (everything but the model's latency): {single_overhead:.1f} ms in the "
        f"{LATENCY * 1000:.0f} ms series above (one agent); with a zero-latency model "
        + ", ".join(f"{1000 * v:.2f} ms per turn with {n} agent{'s' if n > 1 else ''}" for n, v in overhead.items())
        + " (wall time ÷ turns: with many agents the turns share the GIL and the machine's 2 cores). "
        "The machine is shared and noisy; compare rows of one run.",
    ]
    return "\n".join(lines)
