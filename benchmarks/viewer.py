"""The viewer: its API and page on a big session, and what its live feed adds to each cell.

A named session is made for real in process: 1,000 executions (each prints a few lines; every
tenth rebinds a DataFrame, so the scope feed rewrites) and 100 scripted sub-agents of three turns.
Then `memex-mcp ui` serves the state dir and each API route is timed over loopback (httpx), and
headless Chromium (if installed) loads the page until the agent tree and the history are drawn.

The feed's cost per cell: warm `execute_code` calls that rebind a variable (so the checkpoint saves
it and the scope feed describes it) with the kernel's feed on and off, interleaved in rounds, in the
same kernel, back to back and then with a random pause before each call (as a model's think time
leaves, so that some calls arrive while the feed is describing); plus the server's per-reply append
timed on its own.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp import Client

from benchmarks.common import settings, summary
from memex_mcp.runtime.feed import IDLE, STALE
from memex_mcp.server import build_server
from memex_mcp.server.settings import Settings

EXECUTIONS = 1000
AGENTS = 100
TOKEN = "viewer-benchmark-token-0123456789"
#: The most seconds between two calls in the paced run: some arrive while the feed describes.
PACED = 0.4

SETUP = """
import pandas as pd
from memex_mcp.runtime.models.scripted import ScriptedModel
from memex_mcp.runtime.runtime import current
frame = pd.DataFrame({"n": range(1000), "s": [f"row {i}" for i in range(1000)]})
model = ScriptedModel.replies(["```python\\nprint('look')\\n```", "```python\\nprint(len(frame))\\n```",
                               "```python\\nsubmit(42)\\n```"])
"""
SPAWN = """
hs = [spawn_agent(f"task {i}", inputs=["frame"], model=model) for i in range(AGENTS)]
gather(*hs, timeout=120)
"""
FEED_OFF = """
_c = current().checkpointer
if _c.on_flush is not None:
    _saved_feed = _c.on_flush
_c.on_flush = None
"""
FEED_ON = """
_c = current().checkpointer
if _c.on_flush is None and "_saved_feed" in globals():
    _c.on_flush = _saved_feed
"""


async def _session(state: Path) -> None:
    server = build_server(Settings(state_dir=state, session="big"))
    async with Client(server, raise_exceptions=True) as client:
        await client.call_tool("execute_code", {"code": SETUP})
        for i in range(EXECUTIONS - 3):
            code = f"frame = frame.assign(k={i})\nprint(frame.tail(3))" if i % 10 == 0 else f"print({i}, 'x' * 200)"
            await client.call_tool("execute_code", {"code": code})
        await client.call_tool("execute_code", {"code": SPAWN.replace("AGENTS", str(AGENTS))})


async def _feed_cost(gap: float = 0.0, rounds: int = 10, calls: int = 30, control: bool = False) -> dict[str, Any]:
    """Warm calls that rebind a DataFrame, with the kernel's feed on and off in interleaved rounds.
    `gap`: the most seconds between two calls (a model's think time, uniform from 0), so that some
    calls arrive while the feed describes what the last one changed. `control`: the feed is off in
    both arms, which shows how far apart two arms of the same thing come out on this machine."""
    server = build_server(settings())
    on: list[float] = []
    off: list[float] = []
    pause = random.Random(7)
    async with Client(server, raise_exceptions=True) as client:
        await client.call_tool("execute_code", {"code": SETUP})
        for r in range(rounds):
            for feed, samples in ((True, on), (False, off)) if r % 2 == 0 else ((False, off), (True, on)):
                await client.call_tool("execute_code", {"code": FEED_ON if feed and not control else FEED_OFF})
                for i in range(calls):
                    await anyio.sleep(pause.uniform(0, gap))
                    started = time.perf_counter()
                    await client.call_tool("execute_code", {"code": f"frame = frame.assign(k={i})\nx = {i}"})
                    samples.append(time.perf_counter() - started)
            if r == 0:
                on.clear()
                off.clear()  # the first round warms both up
        await client.call_tool("execute_code", {"code": FEED_ON})
    return {"on": summary(on), "off": summary(off), "ratio": statistics.median(on) / statistics.median(off)}


def _reply_append() -> float:
    """Seconds a call spends recording its reply (the server side of the feed; the write itself is
    done by the record's own thread)."""
    from mcp.types import CallToolResult, TextContent

    from memex_mcp.server import replylog
    from memex_mcp.server.outcome import CellResult, Finished
    from memex_mcp.server.output import CellOutput

    folder = Path(tempfile.mkdtemp(prefix="memex-bench-"))
    result = CellResult(CellOutput(), Finished(failed=False))
    reply = CallToolResult(content=[TextContent(type="text", text="x" * 8000)])
    samples = []
    for _ in range(500):
        started = time.perf_counter()
        replylog.record(folder, result, reply)
        samples.append(time.perf_counter() - started)
        # Calls are tens of milliseconds apart: each record finds the writer idle, as here.
        replylog._writer.submit(lambda: None).result()
    return statistics.median(samples)


def _serve(state: Path) -> tuple[subprocess.Popen[bytes], str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "memex_mcp", "ui", "--state-dir", str(state), "--port", str(port)],
        env={**os.environ, "MEMEX_TOKEN": TOKEN},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx2.get(base + "/ui/", timeout=1)
            return process, base
        except httpx2.TransportError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("memex-mcp ui did not start") from None
            time.sleep(0.1)


def _api(base: str, n: int = 50) -> dict[str, dict[str, float]]:
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # one line per request otherwise
    routes = {
        "sessions": "/ui/api/sessions",
        "session": "/ui/api/sessions/big",
        "history (50)": "/ui/api/sessions/big/history?limit=50",
        "agent": "/ui/api/sessions/big/agents/50",
        "session, unchanged (304)": "/ui/api/sessions/big",
    }
    results = {}
    with httpx2.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as http:
        etag = http.get(routes["session"]).headers["etag"]
        for label, path in routes.items():
            headers = {"If-None-Match": etag} if "304" in label else {}
            samples = []
            for _ in range(n):
                started = time.perf_counter()
                response = http.get(path, headers=headers)
                samples.append(time.perf_counter() - started)
                assert response.status_code in (200, 304), (path, response.status_code)
            results[label] = {**summary(samples), "bytes": float(len(response.content))}
    return results


async def _page(base: str, loads: int = 5) -> dict[str, float] | None:
    chromium = shutil.which("chromium")
    if chromium is None:
        return None
    from playwright.async_api import async_playwright

    samples = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(f"{base}/ui/?token={TOKEN}")  # sets the cookie
        for _ in range(loads):
            await page.goto("about:blank")
            started = time.perf_counter()
            await page.goto(f"{base}/ui/#big")
            await page.locator("article.execution").first.wait_for(state="attached", timeout=60_000)
            await page.locator("button.agent").nth(AGENTS - 1).wait_for(state="attached", timeout=60_000)
            samples.append(time.perf_counter() - started)
        await browser.close()
    return summary(samples)


async def run() -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix="memex-bench-viewer-"))
    started = time.perf_counter()
    await _session(state)
    made = time.perf_counter() - started
    process, base = _serve(state)
    try:
        api = _api(base)
        page = await _page(base)
    finally:
        process.terminate()
        process.wait(timeout=30)
    paced = f"0–{PACED * 1000:.0f} ms apart"
    feed = {
        "back to back": [await _feed_cost() for _ in range(3)],
        "back to back, feed off in both arms": [await _feed_cost(control=True) for _ in range(3)],
        paced: [await _feed_cost(gap=PACED, rounds=6, calls=25)],
        f"{paced}, feed off in both arms": [await _feed_cost(gap=PACED, rounds=6, calls=25, control=True)],
    }
    return {"made": made, "api": api, "page": page, "feed": feed, "append": _reply_append()}


def section(result: dict[str, Any], command: str, when: str) -> str:
    lines = [
        "## Viewer: API and page on a big session; the live feed's cost per cell",
        "",
        f"`{command}`, {when}: a named session of {EXECUTIONS:,} executions and {AGENTS} scripted sub-agents "
        f"(made in {result['made']:.0f} s), served by `memex-mcp ui`; 50 requests per route over loopback.",
        "",
        "| route | p50 ms | p95 ms | bytes |",
        "|---|---:|---:|---:|",
        *(f"| {label} | {r['p50']:.1f} | {r['p95']:.1f} | {r['bytes']:,.0f} |" for label, r in result["api"].items()),
        "",
    ]
    page = result["page"]
    if page is not None:
        lines += [
            f"Page load in headless Chromium, until the history and all {AGENTS} agents are drawn: "
            f"p50 {page['p50']:.0f} ms, p95 {page['p95']:.0f} ms (5 loads).",
            "",
        ]
    lines += [
        "Live feed, per call that rebinds a DataFrame (the feed describes it once the kernel has been idle for "
        f"{IDLE * 1000:.0f} ms, or before a request {STALE:g} s later on a kernel that never pauses): warm "
        "`execute_code` with the feed on and off, interleaved rounds, one kernel per run; and the same with the feed "
        "off in both arms, which shows how far apart two arms of the same thing come out:",
        "",
        "| calls | runs | p50 on / off, ms | ratio of p50 |",
        "|---|---:|---|---|",
        *(
            f"| {label} | {len(runs)} | "
            + ", ".join(f"{r['on']['p50']:.2f} / {r['off']['p50']:.2f}" for r in runs)
            + " | "
            + ", ".join(f"{r['ratio']:.3f}" for r in runs)
            + " |"
            for label, runs in result["feed"].items()
        ),
        "",
        f"The server's reply record: {1e6 * result['append']:.0f} µs per call on the event loop, median (the write "
        "is its own thread's).",
    ]
    return "\n".join(lines)
