"""What every benchmark shares: percentiles, the machine, and processes found by parentage."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import psutil  # type: ignore[import-untyped]  # IPython depends on it
from mcp import Client, StdioServerParameters

from memex_mcp.protocol import RuntimeConfig
from memex_mcp.server.session import SessionDir
from memex_mcp.server.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def settings(**options: object) -> Settings:
    """Settings whose state dir is a throwaway one, so benchmarks leave the user's alone."""
    return Settings(state_dir=Path(tempfile.mkdtemp(prefix="memex-bench-")), **options)  # type: ignore[arg-type]


def runtime_config() -> RuntimeConfig:
    return SessionDir(settings()).config


def summary(samples: list[float]) -> dict[str, float]:
    """p50, p95 and mean of `samples` (seconds), in milliseconds."""
    ordered = sorted(samples)
    return {
        "p50": 1000 * statistics.median(ordered),
        "p95": 1000 * ordered[min(int(len(ordered) * 0.95), len(ordered) - 1)],
        "mean": 1000 * statistics.fmean(ordered),
    }


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in cpuinfo.read_text().splitlines()
                if line.startswith("model name")
            ),
            cpu,
        )
    packages = ("memex-mcp", "mcp", "ipykernel", "ipython", "jupyter_client", "pyzmq", "pydantic")
    return {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": f"{cpu}, {psutil.cpu_count()} cores (load average {os.getloadavg()[0]:.2f} at start)",
        "ram": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": ", ".join(f"{p} {version(p)}" for p in packages),
    }


def cpu_seconds(process: psutil.Process | None) -> float:
    """User + system CPU of a process, all its threads included (0 when there is none)."""
    if process is None:
        return 0.0
    times = process.cpu_times()
    return float(times.user + times.system)


@dataclass
class Stdio:
    """An MCP server spawned over stdio, with its process and its kernel's, once it has one."""

    client: Client
    server: psutil.Process
    kernel: psutil.Process | None = field(default=None)

    def find_kernel(self) -> psutil.Process | None:
        children = self.server.children()
        self.kernel = children[0] if children else None
        return self.kernel


@asynccontextmanager
async def stdio_server(args: list[str]) -> AsyncIterator[Stdio]:
    """`python <args>` as an MCP server over stdio, the way an MCP client starts it."""
    me = psutil.Process()
    before = {p.pid for p in me.children()}
    state = tempfile.mkdtemp(prefix="memex-bench-")
    params = StdioServerParameters(
        command=sys.executable, args=args, cwd=str(ROOT), env={**os.environ, "MEMEX_STATE_DIR": state}
    )
    async with Client(params) as client:
        spawned = [p for p in me.children() if p.pid not in before]
        yield Stdio(client, spawned[0])


def proc_status_kb(pid: int, key: str) -> int:
    """A field of /proc/<pid>/status in kB (VmHWM, the peak RSS, is not in psutil)."""
    path = Path(f"/proc/{pid}/status")
    if not path.exists():
        return 0
    for line in path.read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0
