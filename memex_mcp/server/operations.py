"""What an operator sees of a running server: one log line per call and session event, and metrics.

A call's log line names its principal, tool, duration and outcome, never its code, output or
token. `--log-json` writes each line as one JSON object. Metrics are Prometheus' text format.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import psutil  # type: ignore[import-untyped]
from mcp.server.context import CallNext, HandlerResult, ServerMiddleware, ServerRequestContext
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from memex_mcp.server.auth import principal_of
from memex_mcp.server.scratchpad import Scratchpad

_calls_log = logging.getLogger("memex_mcp.calls")

#: Fields a log line may carry besides its message (everything else of a record is logging's own).
_FIELDS = ("event", "principal", "scratchpad", "tool", "outcome", "seconds")


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: getattr(record, k) for k in _FIELDS if hasattr(record, k)})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line)


def configure_logging(level: str, as_json: bool) -> None:
    """Log to stderr (stdout may carry the MCP stream)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonLines() if as_json else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class Metrics:
    """The server's metrics, in a registry of its own (so tests can make several servers)."""

    def __init__(self, pads: Callable[[], dict[str, Scratchpad]]) -> None:
        self.registry = CollectorRegistry()
        self.calls = Counter(
            "memex_calls", "Tool calls by tool and outcome.", ["tool", "outcome"], registry=self.registry
        )
        self.latency = Histogram(
            "memex_call_seconds",
            "Tool call duration in seconds.",
            ["tool"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=self.registry,
        )
        self.registry.register(_Kernels(pads))

    def text(self) -> bytes:
        return generate_latest(self.registry)


class _Kernels(Collector):
    """Read at each scrape: scratchpads, their kernels' memory and restarts."""

    def __init__(self, pads: Callable[[], dict[str, Scratchpad]]) -> None:
        self._pads = pads

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pads = self._pads()
        yield GaugeMetricFamily("memex_scratchpads_live", "Scratchpads with a kernel.", value=len(pads))
        memory = GaugeMetricFamily(
            "memex_kernel_memory_bytes", "Resident memory of each kernel.", labels=["scratchpad"]
        )
        restarts = GaugeMetricFamily(
            "memex_kernel_restarts",
            "Kernels replaced after dying or not stopping, per scratchpad.",
            labels=["scratchpad"],
        )
        alive = 0
        for handle, pad in pads.items():
            restarts.add_metric([handle], pad.replacements)
            pid = pad.kernel_pid()
            if pid is None:
                continue
            try:
                memory.add_metric([handle], psutil.Process(pid).memory_info().rss)
                alive += 1
            except psutil.Error:
                continue
        yield GaugeMetricFamily("memex_kernels_live", "Kernel processes running.", value=alive)
        yield memory
        yield restarts


class CallLog(ServerMiddleware[Any]):
    """One log line and one metrics sample per tool call."""

    def __init__(self, metrics: Metrics | None) -> None:
        self._metrics = metrics

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method != "tools/call" or not ctx.params:
            return await call_next(ctx)
        tool = str(ctx.params.get("name"))
        began = time.monotonic()
        outcome = "failed"
        try:
            result = await call_next(ctx)
            outcome = "error" if isinstance(result, dict) and result.get("isError") else "ok"
            return result
        finally:
            seconds = round(time.monotonic() - began, 4)
            if self._metrics is not None:
                self._metrics.calls.labels(tool, outcome).inc()
                self._metrics.latency.labels(tool).observe(seconds)
            principal = principal_of(ctx.request) if ctx.request is not None else None
            _calls_log.info(
                "%s %s in %.3f s",
                tool,
                outcome,
                seconds,
                extra={"event": "call", "principal": principal, "tool": tool, "outcome": outcome, "seconds": seconds},
            )
