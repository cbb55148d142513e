"""The kernel's channel to the server, and MCP sampling through it, against execute_code.

All in one process and one run: an in-process MCP client (2025-11-25, with a sampling callback
that answers at once) drives memex's server; the channel series are timed inside the kernel,
the baseline (a warm `execute_code("pass")`) in the client.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from mcp import Client, types
from mcp.client.session import ClientRequestContext

from benchmarks.common import settings, summary
from memex_mcp.server import build_server

THREADS = 8

# Timed inside the kernel: one cell per series, the samples printed as JSON.
SERIES = """\
import json, os, threading, time
from memex_mcp.runtime import channel
from memex_mcp.runtime.models.base import Message, Request
from memex_mcp.runtime.models.sampling import SamplingModel

def _timed(call, n):
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples

_n = int(os.environ["MEMEX_BENCH_CALLS"])
_request = Request([Message("user", "ping")], max_tokens=10)
_model = SamplingModel()

def _concurrent(n, threads=8):  # as THREADS
    started = time.perf_counter()
    workers = [threading.Thread(target=_timed, args=(lambda: _model.complete(_request), n // threads))
               for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return (time.perf_counter() - started) / (n // threads * threads)
"""


async def _answer(context: ClientRequestContext, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    return types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text="pong"), model="m")


async def _cell(client: Client, code: str) -> Any:
    result = await client.call_tool("execute_code", {"code": code})
    first = result.content[0]
    assert not result.is_error and isinstance(first, types.TextContent), result
    return json.loads(first.text)


async def run(calls: int) -> dict[str, dict[str, float]]:
    """p50/p95/mean (ms) per series; `concurrent` is wall time per call with 8 threads asking at once."""
    os.environ["MEMEX_BENCH_CALLS"] = str(calls)  # the kernel inherits it: no generated code
    # The samples come back as printed JSON: a budget that holds them all.
    async with Client(
        build_server(settings(output_limit=10_000_000)), mode="legacy", sampling_callback=_answer
    ) as client:
        await client.call_tool("execute_code", {"code": SERIES})
        for _ in range(20):  # warm-up: connect the channel, import what the series import
            await client.call_tool("execute_code", {"code": "pass"})
        await _cell(client, "print(json.dumps(_timed(lambda: _model.complete(_request), 20)))")
        baseline = []
        for _ in range(calls):
            started = time.perf_counter()
            await client.call_tool("execute_code", {"code": "pass"})
            baseline.append(time.perf_counter() - started)
        available = await _cell(
            client, "print(json.dumps(_timed(lambda: channel.default().call('sampling.available'), _n)))"
        )
        sampling = await _cell(client, "print(json.dumps(_timed(lambda: _model.complete(_request), _n)))")
        concurrent = await _cell(client, "print(json.dumps(_concurrent(_n)))")
    per_call = 1000 * concurrent
    return {
        "execute": summary(baseline),
        "channel": summary(available),
        "sampling": summary(sampling),
        "concurrent": {"p50": per_call, "p95": per_call, "mean": per_call},
    }
