"""The team server: many clients over HTTP on loopback, and what one scratchpad costs.

- Load: `clients` clients (each its own principal; every other one on the 2025-11-25 revision with
  an MCP session, the rest on 2026-07-28) each make `calls` execute_code calls at once, from a
  separate process. Each call increments the client's own counter and prints its name and the
  count, so any lost, mixed or misrouted output shows as a mismatch.
- Memory: the kernels' resident memory once they are idle, and the server's growth per scratchpad.
- Warm round trip: `print(1)` over HTTP, beside memex over stdio and a bare one-tool MCP server
  over HTTP, interleaved in rounds.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import psutil  # type: ignore[import-untyped]
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.types import TextContent

from benchmarks.common import ROOT, stdio_server

CELL = "n = globals().get('n', 0) + 1\nprint({name!r}, n)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _text(result: Any) -> str:
    return "".join(c.text for c in result.content if isinstance(c, TextContent))


@asynccontextmanager
async def _http_client(url: str, token: str | None, mode: str = "auto") -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        create_mcp_http_client(headers=headers) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        yield client


async def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    async with httpx2.AsyncClient() as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with {process.returncode}")
            try:
                await http.get(url, timeout=1)
                return
            except httpx2.TransportError:
                await asyncio.sleep(0.1)
    raise RuntimeError("the server did not answer within 120 s")


@asynccontextmanager
async def _memex_http(tokens: dict[str, str], *options: str) -> AsyncIterator[tuple[str, psutil.Process]]:
    port = _free_port()
    state = Path(tempfile.mkdtemp(prefix="memex-bench-"))
    (state / "tokens.json").write_text(json.dumps(tokens))
    command = [sys.executable, "-m", "memex_mcp", "--transport", "http", "--port", str(port)]
    command += ["--state-dir", str(state), "--tokens", str(state / "tokens.json"), "--log-level", "warning", *options]
    process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        await _wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
        yield f"http://127.0.0.1:{port}/mcp", psutil.Process(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=60)


async def load(clients: int, calls: int) -> dict[str, Any]:
    tokens = {f"client{i}": f"token-{i}-{os.urandom(12).hex()}" for i in range(clients)}
    async with _memex_http(tokens, "--max-sessions", str(clients)) as (url, server):
        rss_before = server.memory_info().rss
        # The clients run in a process of their own, as a team's clients would.
        spec = json.dumps({"url": url, "tokens": tokens, "calls": calls})
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.team", spec, cwd=ROOT, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await proc.communicate()
        wall = time.perf_counter() - started
        result: dict[str, Any] = json.loads(out)
        await asyncio.sleep(2)  # the last checkpoints settle
        kernels = [p for p in server.children(recursive=True) if _is_kernel(p.cmdline())]
        kernel_rss = [p.memory_info().rss for p in kernels]
        server_growth = server.memory_info().rss - rss_before
    per_pad = statistics.median(kernel_rss) + server_growth / max(len(kernel_rss), 1)
    return {
        **result,
        "clients": clients,
        "calls": calls,
        "wall": wall,
        "kernels": len(kernel_rss),
        "kernel_rss_median": statistics.median(kernel_rss) if kernel_rss else 0,
        "server_growth_per_pad": server_growth / max(len(kernel_rss), 1),
        "fit_24g": int(24 * 2**30 / per_pad) if per_pad else 0,
    }


def _is_kernel(cmdline: list[str]) -> bool:
    # A confining wrapper (bwrap) carries the kernel's command line too; only the kernel itself counts.
    return "memex_mcp.runtime.launch" in cmdline and not cmdline[0].endswith("bwrap")


async def _clients(spec: dict[str, Any]) -> dict[str, Any]:
    """The load's client side: every client makes its calls one after another, all clients at once."""
    first: list[float] = []
    warm: list[float] = []
    errors: list[str] = []

    async def one(index: int, name: str, token: str) -> None:
        mode = "legacy" if index % 2 == 0 else "auto"
        async with _http_client(spec["url"], token, mode) as client:
            for n in range(1, spec["calls"] + 1):
                began = time.perf_counter()
                try:
                    result = await client.call_tool("execute_code", {"code": CELL.format(name=name)})
                except Exception as exc:
                    errors.append(f"{name} call {n}: {type(exc).__name__}: {exc}")
                    continue
                (first if n == 1 else warm).append(time.perf_counter() - began)
                line = _text(result).splitlines()[0] if _text(result) else ""
                if result.is_error or line != f"{name} {n}":
                    errors.append(f"{name} call {n}: expected {name} {n}, got {line!r}")

    began = time.perf_counter()
    await asyncio.gather(*(one(i, name, token) for i, (name, token) in enumerate(spec["tokens"].items())))
    elapsed = time.perf_counter() - began
    ordered = sorted(warm)
    return {
        "p50": 1000 * statistics.median(ordered),
        "p99": 1000 * ordered[min(int(len(ordered) * 0.99), len(ordered) - 1)],
        "first_p50": 1000 * statistics.median(first),
        "first_max": 1000 * max(first),
        "throughput": len(warm) / elapsed,
        "errors": len(errors),
        "error_samples": errors[:5],
    }


async def round_trip(calls: int, rounds: int = 10) -> dict[str, dict[str, float]]:
    """`print(1)` over memex HTTP, memex stdio and a bare HTTP server, interleaved."""
    token = "bench-" + os.urandom(16).hex()
    port = _free_port()
    bare = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bare_server", "http", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL
    )
    samples: dict[str, list[float]] = {"http": [], "stdio": [], "bare_http": []}
    try:
        await _wait_healthy(f"http://127.0.0.1:{port}/mcp", bare)
        async with AsyncExitStack() as stack:
            url, _ = await stack.enter_async_context(_memex_http({"bench": token}))
            clients = {
                "http": await stack.enter_async_context(_http_client(url, token)),
                "stdio": (await stack.enter_async_context(stdio_server(["-m", "memex_mcp"]))).client,
                "bare_http": await stack.enter_async_context(_http_client(f"http://127.0.0.1:{port}/mcp", None)),
            }
            for client in clients.values():
                for _ in range(20):
                    await client.call_tool("execute_code", {"code": "print(1)"})
            for r in range(rounds):
                order = list(clients.items())
                order = order[r % 3 :] + order[: r % 3]
                for key, client in order:
                    for _ in range(max(calls // rounds, 1)):
                        began = time.perf_counter()
                        await client.call_tool("execute_code", {"code": "print(1)"})
                        samples[key].append(time.perf_counter() - began)
    finally:
        bare.terminate()
        bare.wait(timeout=30)
    return {key: {"p50": 1000 * statistics.median(v), "mean": 1000 * statistics.fmean(v)} for key, v in samples.items()}


async def run(clients: int = 50, calls: int = 40, warm_calls: int = 300) -> dict[str, Any]:
    return {"load": await load(clients, calls), "round_trip": await round_trip(warm_calls)}


def section(result: dict[str, Any], command: str, when: str) -> str:
    load, trip = result["load"], result["round_trip"]
    mib = 2**20
    return "\n".join(
        [
            "## Many clients over HTTP",
            "",
            f"`{command}`, {when}. {load['clients']} clients, each its own principal (half on the 2025-11-25 "
            f"revision with an MCP session, half on 2026-07-28), make {load['calls']} `execute_code` calls each, "
            "all at once, from a separate process on loopback, to a server with its defaults (kernels confined "
            "by `--sandbox auto`). Each call increments the client's own counter and prints its name and count; "
            "any lost, mixed or misrouted output counts as an error. The first call of each client includes its "
            "kernel's start, all 50 at once on 2 cores.",
            "",
            "| warm p50 ms | warm p99 ms | calls/s | first call p50 ms (kernel start) | first call max ms | errors |",
            "|---:|---:|---:|---:|---:|---:|",
            f"| {load['p50']:.1f} | {load['p99']:.1f} | {load['throughput']:.1f} | {load['first_p50']:.0f} | "
            f"{load['first_max']:.0f} | {load['errors']} |",
            "",
            f"Memory once idle: {load['kernels']} kernels, median resident {load['kernel_rss_median'] / mib:.0f} MiB "
            f"each, and the server grew {load['server_growth_per_pad'] / mib:.1f} MiB per scratchpad: about "
            f"{load['fit_24g']} idle scratchpads fit in 24 GiB (idle ones past `--idle-timeout` cost only disk).",
            "",
            "Warm round trip of `print(1)`, one client at a time, interleaved:",
            "",
            "| path | p50 ms | mean ms |",
            "|---|---:|---:|",
            f"| memex over HTTP (token, Host/Origin checks) | {trip['http']['p50']:.2f} | {trip['http']['mean']:.2f} |",
            f"| memex over stdio | {trip['stdio']['p50']:.2f} | {trip['stdio']['mean']:.2f} |",
            f"| bare one-tool MCP server over HTTP | {trip['bare_http']['p50']:.2f} | "
            f"{trip['bare_http']['mean']:.2f} |",
            "",
            f"HTTP adds {trip['http']['p50'] / trip['stdio']['p50']:.2f}× stdio's p50; memex over HTTP costs "
            f"{trip['http']['p50'] / trip['bare_http']['p50']:.2f}× a bare server over HTTP.",
        ]
    )


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_clients(json.loads(sys.argv[1])))))
