"""What confining a kernel costs: its start and a warm `print(1)`, per mechanism, beside none.

Rounds rotate through the mechanisms, so noise on this shared machine lands on all of them. The
sandbox probe (`choose`) runs once before timing, as the server runs it once at start.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from memex_mcp.server.kernel import Kernel
from memex_mcp.server.lifecycle import Lifecycle
from memex_mcp.server.output import CellOutput
from memex_mcp.server.sandbox import SandboxUnavailable, Setting, choose
from memex_mcp.server.session import SessionDir
from memex_mcp.server.settings import Settings

MECHANISMS: tuple[Setting, ...] = ("none", "bubblewrap", "landlock")


async def _one(mechanism: Any, state: Path, calls: int) -> tuple[float, float]:
    lifecycle = Lifecycle()
    session = SessionDir(Settings(state_dir=state), lifecycle)
    began = time.perf_counter()
    kernel = await Kernel.launch(Path.cwd(), session.config, lifecycle, mechanism)
    await kernel.ready()
    start = time.perf_counter() - began
    trips = []
    try:
        for i in range(calls + 5):
            began = time.perf_counter()
            await kernel.execute("print(1)", CellOutput())
            if i >= 5:  # the first calls warm the kernel up
                trips.append(time.perf_counter() - began)
    finally:
        await kernel.shutdown()
        session.close()
    return start, statistics.median(trips)


async def run(rounds: int = 8, calls: int = 20) -> dict[str, Any]:
    usable = []
    for mechanism in MECHANISMS:
        try:
            choose(mechanism)
            usable.append(mechanism)
        except SandboxUnavailable:
            continue
    state = Path(tempfile.mkdtemp(prefix="memex-bench-"))
    samples: dict[str, list[tuple[float, float]]] = {m: [] for m in usable}
    for r in range(rounds):
        for mechanism in usable[r % len(usable) :] + usable[: r % len(usable)]:
            samples[mechanism].append(await _one(mechanism, state, calls))
    return {
        m: {
            "start": 1000 * statistics.median(s for s, _ in v),
            "trip": 1000 * statistics.median(t for _, t in v),
        }
        for m, v in samples.items()
    } | {"rounds": rounds, "calls": calls}


def section(result: dict[str, Any], command: str, when: str) -> str:
    base = result["none"]
    rows = [
        f"| {m} | {result[m]['start']:.0f} | {result[m]['start'] / base['start']:.2f}× | "
        f"{result[m]['trip']:.2f} | {result[m]['trip'] / base['trip']:.2f}× |"
        for m in MECHANISMS
        if m in result
    ]
    return "\n".join(
        [
            "## Kernel confinement (`--sandbox`)",
            "",
            f"`{command}`, {when}: {result['rounds']} kernels per mechanism, started in rotation; each runs "
            f"{result['calls']} warm `print(1)` through jupyter_client (medians).",
            "",
            "| sandbox | kernel start ms | vs none | warm print(1) ms | vs none |",
            "|---|---:|---:|---:|---:|",
            *rows,
        ]
    )
