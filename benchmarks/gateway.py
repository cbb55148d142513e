"""What a Jupyter Kernel Gateway costs: a kernel's start to its first result, and a warm `print(1)`,
through a gateway on this host beside local kernels, and where a gateway call's time goes.

Rounds alternate local and gateway kernels (which goes first rotates), so noise on this shared
machine lands on both. Per gateway kernel, beside memex's calls: the WebSocket's own round trip
(a ping the gateway answers without the kernel), a REST look at the kernel's record (what memex
sends beside each execution), and a bare `kernel_info` through the gateway (the gateway's relay
and the kernel, without memex).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
from jupyter_client.asynchronous.client import AsyncKernelClient
from websockets.asyncio.client import connect

from memex_mcp.server.gateway import TOKEN_ENV, _quick_ack
from memex_mcp.server.kernel import _KERNEL_ARGV, Kernel
from memex_mcp.server.lifecycle import Lifecycle
from memex_mcp.server.output import CellOutput
from memex_mcp.server.session import SessionDir
from memex_mcp.server.settings import Settings

#: The connection file of the kernel a gateway runs (on this host, so readable); its name holds the kernel's id.
_CONNECTION_FILE = "print(__import__('ipykernel.connect').connect.get_connection_file())"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _gateway(token: str) -> Iterator[str]:
    """A Kernel Gateway on a free loopback port with memex's kernelspec; its URL."""
    home = Path(tempfile.mkdtemp(prefix="memex-bench-gateway-"))
    spec = home / "kernels" / "memex"
    spec.mkdir(parents=True)
    env = {"PYTHONPATH": os.environ.get("PYTHONPATH", ""), "MEMEX_ALLOW_MODEL_REQUESTS": "0"}
    (spec / "kernel.json").write_text(
        json.dumps({"argv": _KERNEL_ARGV, "display_name": "memex", "language": "python", "env": env})
    )
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kernel_gateway",
            "--KernelGatewayApp.ip=127.0.0.1",
            f"--KernelGatewayApp.port={port}",
            f"--KernelGatewayApp.auth_token={token}",
            "--KernelGatewayApp.port_retries=0",
            "--ZMQChannelsWebsocketConnection.iopub_data_rate_limit=0",
        ],
        cwd=home,
        env={**os.environ, "JUPYTER_PATH": str(home)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    up = threading.Event()

    def drain() -> None:  # read to the end, or the gateway blocks on a full pipe
        assert process.stderr is not None
        for line in process.stderr:
            if b"is available at" in line:
                up.set()

    threading.Thread(target=drain, daemon=True).start()
    try:
        if not up.wait(60):
            raise RuntimeError("the Kernel Gateway did not start within 60 s")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _direct(connection_file: str, calls: int) -> float:
    """Median (s) of a bare kernel_info to the gateway's kernel over ZeroMQ, past the gateway."""
    client = AsyncKernelClient(connection_file=connection_file)
    client.load_connection_file()
    client.start_channels()
    try:
        await client.kernel_info(reply=True, timeout=30)
        infos = []
        for _ in range(calls):
            began = time.perf_counter()
            await client.kernel_info(reply=True, timeout=30)
            infos.append(time.perf_counter() - began)
    finally:
        client.stop_channels()
    return statistics.median(infos)


async def _parts(url: str, token: str, connection_file: str, calls: int) -> dict[str, float]:
    """Medians (s) of a gateway kernel's pieces: WebSocket ping, REST look, a bare kernel_info through
    the gateway without and with quick ACKs, and one past the gateway."""
    kernel_id = connection_file.rsplit("kernel-", 1)[1].removesuffix(".json")
    auth = {"Authorization": f"token {token}"}
    pings: list[float] = []
    looks: list[float] = []
    infos: dict[bool, list[float]] = {False: [], True: []}
    async with httpx2.AsyncClient(base_url=url, headers=auth) as http:
        for _ in range(calls):
            began = time.perf_counter()
            (await http.get(f"/api/kernels/{kernel_id}")).raise_for_status()
            looks.append(time.perf_counter() - began)
    ws_url = f"ws{url[4:]}/api/kernels/{kernel_id}/channels?session_id={uuid.uuid4().hex}"
    async with connect(ws_url, additional_headers=auth, max_size=None) as ws:
        for _ in range(calls):
            began = time.perf_counter()
            await (await ws.ping())
            pings.append(time.perf_counter() - began)
        acknowledge = _quick_ack(ws)
        for i in range(2 * calls):
            quick = i % 2 == 1
            msg_id = uuid.uuid4().hex
            header = {"msg_id": msg_id, "msg_type": "kernel_info_request", "session": "bench", "username": "bench"}
            header |= {"date": "", "version": "5.3"}
            began = time.perf_counter()
            message = {"header": header, "parent_header": {}, "metadata": {}, "content": {}, "buffers": []}
            await ws.send(json.dumps({**message, "channel": "shell"}))
            while True:
                reply = json.loads(await ws.recv())
                if quick:
                    acknowledge()
                if reply.get("channel") == "shell" and reply["parent_header"].get("msg_id") == msg_id:
                    break
            infos[quick].append(time.perf_counter() - began)
    return {
        "ping": statistics.median(pings),
        "look": statistics.median(looks),
        "info_slow": statistics.median(infos[False]),
        "info": statistics.median(infos[True]),
        "direct": await _direct(connection_file, calls),
    }


async def _one(gateway: str | None, token: str, state: Path, calls: int) -> dict[str, float]:
    lifecycle = Lifecycle()
    session = SessionDir(Settings(state_dir=state), lifecycle)
    began = time.perf_counter()
    kernel = await Kernel.launch(Path.cwd(), session.config, lifecycle, gateway=gateway)
    launched = time.perf_counter()
    result: dict[str, float] = {"launch": launched - began}
    try:
        await kernel.ready()
        result["ready"] = time.perf_counter() - launched
        await kernel.execute("print(1)", CellOutput())
        result["first"] = time.perf_counter() - began
        trips = []
        for i in range(calls + 5):
            began = time.perf_counter()
            await kernel.execute("print(1)", CellOutput())
            if i >= 5:  # the first calls warm the kernel up
                trips.append(time.perf_counter() - began)
        result["trip"] = statistics.median(trips)
        if gateway is not None:
            id_out = CellOutput()
            await kernel.execute(_CONNECTION_FILE, id_out)
            result |= await _parts(gateway, token, str(id_out.text).strip(), calls)
    finally:
        await kernel.shutdown()
        session.close()
    return result


async def run(rounds: int = 6, calls: int = 20) -> dict[str, Any]:
    token = secrets.token_hex(16)
    state = Path(tempfile.mkdtemp(prefix="memex-bench-"))
    samples: dict[str, list[dict[str, float]]] = {"local": [], "gateway": []}
    previous = os.environ.get(TOKEN_ENV)
    os.environ[TOKEN_ENV] = token
    try:
        with _gateway(token) as url:
            for r in range(rounds):
                for kind in ("local", "gateway") if r % 2 == 0 else ("gateway", "local"):
                    samples[kind].append(await _one(url if kind == "gateway" else None, token, state, calls))
    finally:
        if previous is None:
            os.environ.pop(TOKEN_ENV, None)
        else:
            os.environ[TOKEN_ENV] = previous
    return {
        kind: {key: 1000 * statistics.median(s[key] for s in runs) for key in runs[0]} for kind, runs in samples.items()
    } | {"rounds": rounds, "calls": calls}


def section(result: dict[str, Any], command: str, when: str) -> str:
    local, gateway = result["local"], result["gateway"]
    rows = [
        f"| {name} | {local[key]:.{digits}f} | {gateway[key]:.{digits}f} | {gateway[key] - local[key]:+.{digits}f} |"
        for name, key, digits in (
            ("start request (local: process launched; gateway: POST /api/kernels)", "launch", 0),
            ("… until the kernel answers (gateway: WebSocket opened, kernel_info)", "ready", 0),
            ("start → first `print(1)` result", "first", 0),
            ("warm `print(1)`", "trip", 2),
        )
    ]
    return "\n".join(
        [
            "## Kernels behind a Jupyter Kernel Gateway (`--kernel-gateway`)",
            "",
            f"`{command}`, {when}: {result['rounds']} kernels each, local and through a Kernel Gateway on this "
            f"host, started in alternation; each runs {result['calls']} warm `print(1)` (medians, ms).",
            "",
            "| | local | gateway | difference |",
            "|---|---:|---:|---:|",
            *rows,
            "",
            "Where a warm gateway call's time goes (medians, ms, per gateway kernel):",
            "",
            "| piece | ms |",
            "|---|---:|",
            f"| WebSocket round trip (ping, answered by the gateway) | {gateway['ping']:.2f} |",
            f"| REST look at the kernel's record (sent beside each execution) | {gateway['look']:.2f} |",
            f"| bare `kernel_info` to the same kernel over ZeroMQ, past the gateway | {gateway['direct']:.2f} |",
            f"| bare `kernel_info` through the gateway (relay + kernel, no memex) | {gateway['info']:.2f} |",
            f"| … without quick ACKs (Nagle + delayed ACK) | {gateway['info_slow']:.2f} |",
            f"| memex's warm `print(1)` through the gateway | {gateway['trip']:.2f} |",
        ]
    )
