"""`python -m benchmarks`: run the benchmarks and write BENCHMARKS.md.

    python -m benchmarks                       # all of them (about a minute and a half)
    python -m benchmarks --only latency --calls 500
    python -m benchmarks --only startup --runs 9
    python -m benchmarks --only sql            # sql() against raw DuckDB over 10 M rows
    python -m benchmarks --only documents --pages 10000
    python -m benchmarks --only periodic       # the issue a question names: periodic PDFs, the R manuals
    python -m benchmarks --only indexing       # a cold index build over ~15,000 real PDF pages, before/after
    python -m benchmarks --only context        # characters that reach the model, against baselines
    python -m benchmarks --only eval_context   # the same for the eval's bundled suite, and mcp-server-motherduck
    python -m benchmarks --only smoke_llama    # opt-in: `memex-mcp eval` with a small local model (llama.cpp)
    python -m benchmarks --only downstream     # a downstream MCP tool from a cell against a direct call
    python -m benchmarks --only first_hour     # characters a model reads in a scripted first session
    python -m benchmarks --only long_work      # a running execution's end → the waiting call's reply
    python -m benchmarks --only sandbox        # kernel start and a warm call, confined and not
    python -m benchmarks --only gateway        # kernel start and a warm call through a Kernel Gateway
    python -m benchmarks --only team           # 50 HTTP clients, 40 calls each; memory per scratchpad
    python -m benchmarks --only viewer         # the viewer's API and page on 1,000 executions and 100 agents
    python -m benchmarks --no-write            # print only

`--only` rewrites that section of BENCHMARKS.md and keeps the others.
"""

from __future__ import annotations

import argparse
import sys
import time

import anyio

from benchmarks import (
    agents,
    channel,
    checkpoint,
    context,
    documents,
    downstream,
    eval_context,
    first_hour,
    gateway,
    indexing,
    latency,
    long_work,
    memory,
    periodic,
    report,
    sandbox,
    startup,
    team,
    viewer,
)
from benchmarks import sql as sql_bench
from benchmarks.common import ROOT, machine

OUT = ROOT / "BENCHMARKS.md"
NAMES = (
    "latency",
    "startup",
    "memory",
    "agents",
    "documents",
    "periodic",
    "indexing",
    "sql",
    "channel",
    "context",
    "checkpoint",
    "downstream",
    "first_hour",
    "long_work",
    "team",
    "sandbox",
    "gateway",
    "viewer",
    "eval_context",
)
#: Run only when named with --only: they install large things and prove a path, not a number.
OPT_IN = ("smoke_llama",)


def _command(args: argparse.Namespace, only: str | None) -> str:
    """The canonical command that repeats this measurement (defaults spelled out)."""
    parts = ["python -m benchmarks"] + ([f"--only {only}"] if only else [])
    if only in ("channel", "downstream"):
        parts.append(f"--calls {args.calls}")
    if only in (None, "latency"):
        parts += [f"--calls {args.calls}", f"--rounds {args.rounds}"] + ([] if args.whatif else ["--no-whatif"])
    if only in (None, "startup"):
        parts.append(f"--runs {args.runs}")
    if only in (None, "documents"):
        parts.append(f"--pages {args.pages}")
    if only in (None, "checkpoint"):
        parts.append(f"--scope-mb {args.scope_mb}")
    return " ".join(parts)


async def main(args: argparse.Namespace) -> None:
    if args.calls < 1 or args.runs < 1 or args.rounds < 1:
        raise SystemExit("--calls, --runs and --rounds must be at least 1")
    info = machine()
    chosen = [args.only] if args.only else list(NAMES)
    whole = _command(args, args.only)
    sections: dict[str, str] = {}
    for name in chosen:
        command = _command(args, name if args.only else None)
        started = time.perf_counter()
        print(f"[benchmarks] {name} …", file=sys.stderr, flush=True)
        if name == "latency":
            rows = await latency.run(args.calls, args.rounds, whatif=args.whatif)
            sections[name] = report.latency(rows, command, info["date"], args.rounds)
        elif name == "documents":
            sections[name] = documents.render(await documents.run(args.pages), command, info["date"])
        elif name == "periodic":
            sections[name] = periodic.render(periodic.run(), command, info["date"])
        elif name == "indexing":
            sections[name] = indexing.render(indexing.run(), command, info["date"])
        elif name == "startup":
            sections[name] = report.startup(await startup.run(args.runs), command, info["date"])
        elif name == "agents":
            sections[name] = agents.section(await agents.run(), command, info["date"])
        elif name == "sandbox":
            sections[name] = sandbox.section(await sandbox.run(), command, info["date"])
        elif name == "gateway":
            sections[name] = gateway.section(await gateway.run(), command, info["date"])
        elif name == "team":
            sections[name] = team.section(await team.run(), command, info["date"])
        elif name == "viewer":
            sections[name] = viewer.section(await viewer.run(), command, info["date"])
        elif name == "long_work":
            sections[name] = long_work.section(await long_work.run(), command, info["date"])
        elif name == "first_hour":
            sections[name] = first_hour.render(await first_hour.run(), command, info["date"], first_hour.baseline())
        elif name == "eval_context":
            sections[name] = eval_context.render(await eval_context.run(), command, info["date"])
        elif name == "smoke_llama":
            from benchmarks import smoke_llama

            sections[name] = smoke_llama.render(await smoke_llama.run(), command, info["date"])
        elif name == "context":
            sections[name] = context.render(await context.run(), command, info["date"])
        elif name == "sql":
            sections[name] = sql_bench.report(sql_bench.run(), command, info["date"])
        elif name == "channel":
            sections[name] = report.channel(await channel.run(args.calls), command, info["date"])
        elif name == "downstream":
            sections[name] = downstream.section(await downstream.run(args.calls), command, info["date"])
        elif name == "checkpoint":
            result = await checkpoint.run(min(args.calls, 200), args.scope_mb)
            sections[name] = checkpoint.section(result, command, info["date"])
        else:
            sections[name] = report.memory(await memory.run(), command, info["date"])
        print(f"[benchmarks] {name} took {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        print(sections[name] + "\n", flush=True)
        if args.write:  # section by section: a failure later keeps what was measured
            report.write(OUT, report.header(info, whole), {name: sections[name]})
    if args.write:
        print(f"[benchmarks] wrote {OUT}", file=sys.stderr)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=NAMES + OPT_IN, help="run one benchmark")
    parser.add_argument("--calls", type=int, default=300, help="timed calls per latency series (default 300)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=10,
        help="blocks the latency calls are split into, interleaved across series (default 10)",
    )
    parser.add_argument("--runs", type=int, default=5, help="server starts for the start-up medians (default 5)")
    parser.add_argument(
        "--pages", type=int, default=10_000, help="generated pages for the documents benchmark (default 10,000)"
    )
    parser.add_argument(
        "--scope-mb",
        type=int,
        default=256,
        help="MB of DataFrames in the checkpoint benchmark's large scope (default 256)",
    )
    parser.add_argument(
        "--no-whatif", dest="whatif", action="store_false", help="skip the before series (memex at an earlier commit)"
    )
    parser.add_argument("--no-write", dest="write", action="store_false", help="print, do not write BENCHMARKS.md")
    return parser.parse_args(argv)


if __name__ == "__main__":
    anyio.run(main, parse())
