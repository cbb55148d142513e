"""What checkpoints cost: execute_code round trips with checkpoints on, as ratios against the same
calls to a server with checkpoints off (`--checkpoint-max-bytes 0`) in the same run, the time a
killed kernel takes to come back with a large scope, and a trivial cell's latency beside a value
that is slow to pickle.

Both servers run in this process (MCP's in-process client), each with its own kernel; the calls
alternate between them in blocks so that noise lands on both.
"""

from __future__ import annotations

import os
import select
import signal
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from mcp import Client
from mcp.types import TextContent

from benchmarks.common import settings, summary
from memex_mcp.server import build_server

SMALL_SCOPE = (
    "import json, math\n"
    "small = {f'k{i}': list(range(50)) for i in range(20)}\n"
    "names = ['x' * 40 for _ in range(200)]\n"
    "counter = 0\nitems = []\n"
    "def helper(v):\n    return math.sqrt(v) + len(names)\n"
)
#: (label, code): each is timed on both servers.
SMALL_CALLS = [
    ("print(1): nothing changes", "print(1)"),
    ("counter += 1: a small variable rebound", "counter += 1"),
    ("items.append(…): a small list mutated", "items.append(len(items))"),
]
FRAME_MB = 128
#: Objects of 20,000 small dicts each: a small shallow size, a long pickle (about 0.1 s per object here).
SLOW_OBJECTS = 100
SLOW_VALUE = (
    "class Result:\n    def __init__(self, rows):\n        self.rows = rows\n"
    f"results = {{}}\nfor i in range({SLOW_OBJECTS}):\n"
    "    results[i] = Result([{'i': j, 'v': j * 0.5} for j in range(20_000)])\ndel i"
)


def _big_scope(total_mb: int) -> str:
    n = max(total_mb // FRAME_MB, 1)
    rows = FRAME_MB * 2**20 // 16  # two float64 columns
    return (
        "import numpy as np, pandas as pd\n"
        f"frames = {{}}\nfor i in range({n}):\n"
        f"    globals()[f'frame_{{i}}'] = pd.DataFrame({{'a': np.random.rand({rows}), 'b': np.arange({rows}, "
        "dtype='float64')})\n"
        "del i"
    )


BIG_CALLS = [
    ("print(1) beside the big scope", "print(1)"),
    ("frame_0.iat[0, 0] += 1, then print(1): a 128 MB frame mutated", "frame_0.iat[0, 0] += 1"),
]


def _text(result: Any) -> str:
    first = result.content[0]
    assert isinstance(first, TextContent)
    return first.text


@asynccontextmanager
async def _server(checkpoints: bool) -> AsyncIterator[Client]:
    options: dict[str, Any] = {"timeout": 600} if checkpoints else {"timeout": 600, "checkpoint_max_bytes": 0}
    async with Client(build_server(settings(**options)), raise_exceptions=True) as client:
        yield client


async def _call(client: Client, code: str) -> float:
    started = time.perf_counter()
    result = await client.call_tool("execute_code", {"code": code})
    elapsed = time.perf_counter() - started
    assert not result.is_error, _text(result)
    return elapsed


async def _series(
    clients: dict[str, Client],
    calls: list[tuple[str, str]],
    n: int,
    rounds: int,
    then: str | None = None,
    pause: float = 0,
) -> dict[str, dict[str, dict[str, float]]]:
    """{label: {"on"/"off": summary}}; `then`: a call timed together with each (it waits for deferred
    writes); `pause`: seconds between calls, untimed, as a model thinks between them."""
    samples: dict[str, dict[str, list[float]]] = {label: {k: [] for k in clients} for label, _ in calls}
    per_round = max(n // rounds, 1)
    for r in range(rounds):
        for label, code in calls:
            order = list(clients) if r % 2 == 0 else list(reversed(clients))
            for key in order:
                for _ in range(per_round):
                    if pause:
                        await anyio.sleep(pause)
                    elapsed = await _call(clients[key], code)
                    if then is not None and code != "print(1)":
                        elapsed += await _call(clients[key], then)
                    samples[label][key].append(elapsed)
    return {label: {k: summary(v) for k, v in by.items()} for label, by in samples.items()}


async def _restart_seconds(client: Client, check: str) -> float:
    """SIGKILL the kernel between calls; seconds until the next call has returned on a new one."""
    pid = int(_text(await client.call_tool("execute_code", {"code": "__import__('os').getpid()"})))
    fd = os.pidfd_open(pid)
    started = time.perf_counter()
    os.kill(pid, signal.SIGKILL)
    select.select([fd], [], [], 30)
    os.close(fd)
    result = await client.call_tool("execute_code", {"code": check})
    elapsed = time.perf_counter() - started
    assert not result.is_error, _text(result)
    return elapsed


async def slow_value(calls: int) -> dict[str, Any]:
    """print(1) with checkpoints on, before and after a slow-to-pickle value is made; the first call
    after it waits for its checkpoint, written after the reply of the cell that made it."""
    async with _server(True) as client:
        for _ in range(20):
            await _call(client, "print(1)")
        before = [await _call(client, "print(1)") for _ in range(calls)]
        made = await _call(client, SLOW_VALUE)
        waited = await _call(client, "print(1)")
        after = [await _call(client, "print(1)") for _ in range(calls)]
        mention = [await _call(client, "len(results)") for _ in range(calls)]
    return {
        "before": summary(before),
        "after": summary(after),
        "mention": summary(mention),
        "made": made,
        "waited": waited,
    }


async def run(calls: int, scope_mb: int, rounds: int = 5) -> dict[str, Any]:
    out: dict[str, Any] = {"scope_mb": scope_mb, "calls": calls}
    out["slow"] = await slow_value(max(calls // 4, 10))
    async with _server(True) as on, _server(False) as off:
        clients = {"on": on, "off": off}
        for client in clients.values():
            await _call(client, SMALL_SCOPE)
            for _ in range(20):
                await _call(client, "print(1)")
        out["small"] = await _series(clients, SMALL_CALLS, calls, rounds)
        out["paced"] = await _series(clients, SMALL_CALLS, calls, rounds, pause=0.02)
        created = {}
        for key, client in clients.items():
            started = time.perf_counter()
            await _call(client, _big_scope(scope_mb))
            await _call(client, "print(1)")  # waits for the checkpoint written after the reply
            created[key] = time.perf_counter() - started
        out["created"] = created
        big_calls = max(calls // 20, rounds)
        out["big"] = await _series(clients, BIG_CALLS, big_calls, rounds, then="print(1)")
        check = "sum(len(v) for k, v in globals().items() if k.startswith('frame_'))"
        out["restart"] = {
            key: statistics.median([await _restart_seconds(c, check) for _ in range(3)]) for key, c in clients.items()
        }
    return out


def section(result: dict[str, Any], command: str, when: str) -> str:
    def rows(part: dict[str, dict[str, dict[str, float]]]) -> list[str]:
        lines = []
        for label, by in part.items():
            on, off = by["on"], by["off"]
            lines.append(
                f"| {label} | {on['p50']:.2f} | {off['p50']:.2f} | {on['p50'] / off['p50']:.2f}× | "
                f"{on['mean']:.2f} | {off['mean']:.2f} | {on['mean'] / off['mean']:.2f}× |"
            )
        return lines

    head = "| call | p50 on | p50 off | ratio | mean on | mean off | ratio |"
    rule = "|---|---:|---:|---:|---:|---:|---:|"
    created, restart, mb = result["created"], result["restart"], result["scope_mb"]
    return "\n".join(
        [
            "## Checkpoints: overhead on execute_code, and restoring a large scope",
            "",
            f"`{command}`, {when}. Two in-process servers, one with checkpoints on (the default, 512 MB per "
            "variable) and one with `--checkpoint-max-bytes 0`, called alternately in blocks. Milliseconds per "
            "round trip. The machine is shared and noisy: read ratios, not absolute numbers.",
            "",
            f"Small scope (20 small dicts, a list of 200 strings, a function), {result['calls']} calls per cell "
            "and server, back to back: a call waits for the files of the call before it, which are written "
            "after its reply:",
            "",
            head,
            rule,
            *rows(result["small"]),
            "",
            "The same calls 20 ms apart (untimed), as a model calls: nothing waits for the previous call's files, "
            "but the pickling and writes right after each reply (the scan before the reply only decides what "
            "changed) still share this machine's two busy cores with the server and client:",
            "",
            head,
            rule,
            *rows(result["paced"]),
            "",
            f"With {mb:,} MB of DataFrames in the scope ({max(mb // FRAME_MB, 1)} frames of {FRAME_MB} MB). The "
            "mutating call is timed together with the `print(1)` after it, since a big value is written after "
            "the reply and the next call waits for it:",
            "",
            head,
            rule,
            *rows(result["big"]),
            "",
            f"- Creating the {mb:,} MB scope and the next call: {created['on']:.1f} s with checkpoints, "
            f"{created['off']:.1f} s without (the first checkpoint writes every frame).",
            f"- A kernel killed with SIGKILL, until the next call has returned: {restart['on']:.1f} s with the "
            f"{mb:,} MB scope restored, {restart['off']:.1f} s for an empty new kernel (median of 3).",
            "",
            *_slow_rows(result["slow"]),
        ]
    )


def _slow_rows(slow: dict[str, Any]) -> list[str]:
    before, after, mention = slow["before"], slow["after"], slow["mention"]
    return [
        f"With a value slow to pickle in the scope ({SLOW_OBJECTS} objects of 20,000 small dicts; checkpoints on):",
        "",
        "| call | p50 ms | ratio to before |",
        "|---|---:|---:|",
        f"| print(1) before the value exists | {before['p50']:.2f} | 1.00× |",
        f"| print(1) with the value in scope | {after['p50']:.2f} | {after['p50'] / before['p50']:.2f}× |",
        f"| len(results): a cell that reads it | {mention['p50']:.2f} | {mention['p50'] / before['p50']:.2f}× |",
        "",
        f"- The cell that made it returned in {slow['made']:.1f} s; the call after it waited "
        f"{slow['waited']:.1f} s for its checkpoint, written after that reply.",
    ]
