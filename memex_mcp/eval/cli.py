"""`memex-mcp eval SUITE --model PROVIDER:MODEL …`: parse, run, report."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path

import anyio

from memex_mcp.eval.records import Harness
from memex_mcp.server.options import Parser


def parser() -> Parser:
    p = Parser(
        prog="memex-mcp eval",
        description="Run a model on a suite of questions in two harnesses over the same data: memex (the "
        "model's tools are memex-mcp's own, through a real MCP client) and tools (classic tool calling, "
        "results as text: sql, search, read_page, list_files). Reports accuracy, tokens, cost, turns and "
        "time per task and overall (report.md, report.png, trajectories.jsonl in --out). Running the same "
        "command again with the same --out resumes: recorded task-runs are skipped.",
    )
    p.add_argument(
        "suite",
        metavar="SUITE",
        help="'bundled' (six questions over the example data), an OfficeQA-format CSV (uid, question, answer, "
        "source_files, difficulty), a CSV/JSONL of table questions (id, question, answer_sql or answer), or "
        "a folder holding one",
    )
    p.add_argument(
        "--model",
        required=True,
        metavar="PROVIDER:MODEL",
        help="openai:<model> (OPENAI_API_KEY; any OpenAI-compatible server with OPENAI_BASE_URL), "
        "anthropic:<model> (ANTHROPIC_API_KEY), or scripted:oracle (no model: a policy that knows the "
        "bundled suite)",
    )
    p.add_argument(
        "--harness", default="memex,tools", metavar="LIST", help="memex, tools or both (default memex,tools)"
    )
    p.add_argument("--runs", type=int, default=1, metavar="N", help="runs of each task in each harness (default 1)")
    p.add_argument("--max-turns", type=int, default=20, metavar="N", help="model calls per task-run (default 20)")
    p.add_argument(
        "--budget-usd",
        type=float,
        metavar="X",
        help="stop calling the model once the eval has spent this many dollars (needs the model's price)",
    )
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="where trajectories and the report go; the same DIR resumes (default ./memex-eval/SUITE)",
    )
    p.add_argument("--parallel", type=int, default=4, metavar="N", help="task-runs at once (default 4)")
    p.add_argument(
        "--prices",
        type=Path,
        metavar="FILE",
        help='JSON of prices in $ per million tokens, {"openai:my-model": {"input": 0.5, "output": 1.5}}, '
        "added to the default table (a model in neither has cost unknown)",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="the data the questions ask about (default: the bundled data, or a corpus/ or data/ folder "
        "beside the suite's file)",
    )
    p.add_argument(
        "--tolerance", type=float, default=0.01, metavar="REL", help="relative tolerance of numbers (default 0.01)"
    )
    p.add_argument(
        "--aggregate",
        type=int,
        default=0,
        metavar="N",
        help="N memex runs of each task (--runs N at least), then an aggregator per task: a fresh memex session "
        "where the N runs are the variable `runs` (trajectories as objects, answers not scored for it); its "
        "answer is scored as harness memex+aggregate, its cost includes the runs'",
    )
    p.add_argument("--limit", type=int, metavar="N", help="only the suite's first N tasks")
    return p


def main(argv: Sequence[str]) -> int:
    from memex_mcp.eval.models import ModelError, resolve
    from memex_mcp.eval.prices import PriceError
    from memex_mcp.eval.report import markdown, plot
    from memex_mcp.eval.run import EvalConfig, EvalError, reported, run_eval
    from memex_mcp.eval.suites import SuiteError, load_suite

    p = parser()
    args = p.parse_args(argv)
    given = [h.strip() for h in args.harness.split(",") if h.strip()]
    harnesses: list[Harness] = [h for h in ("memex", "tools") if h in given]
    if not given or len(harnesses) != len(set(given)):
        p.error(f"--harness {args.harness}: give memex, tools or memex,tools")
    for option, value in (("--runs", args.runs), ("--max-turns", args.max_turns), ("--parallel", args.parallel)):
        if value < 1:
            p.error(f"{option} {value}: must be at least 1")
    if args.aggregate < 0 or args.aggregate == 1:
        p.error(f"--aggregate {args.aggregate}: give at least 2 runs to aggregate")
    if args.aggregate and "memex" not in harnesses:
        p.error("--aggregate aggregates memex runs: include memex in --harness")
    if args.limit is not None and args.limit < 1:
        p.error(f"--limit {args.limit}: must be at least 1")
    if args.data_dir is not None and not args.data_dir.is_dir():
        p.error(f"--data-dir {args.data_dir}: no such directory")
    out = args.out or Path("memex-eval") / re.sub(r"[^\w.-]+", "_", Path(args.suite).stem or args.suite)
    try:
        model = resolve(args.model)
        suite = load_suite(args.suite, args.data_dir)
    except (ModelError, SuiteError) as exc:
        p.error(str(exc))
    if args.limit is not None:
        suite = suite.model_copy(update={"tasks": suite.tasks[: args.limit]})
    config = EvalConfig(
        harnesses=harnesses,
        runs=max(args.runs, args.aggregate),
        max_turns=args.max_turns,
        budget_usd=args.budget_usd,
        out=out,
        parallel=args.parallel,
        prices=args.prices,
        tolerance=args.tolerance,
        aggregate=args.aggregate,
    )
    try:
        anyio.run(run_eval, suite, model, config, sys.stderr)
    except (EvalError, PriceError) as exc:
        p.error(str(exc))
    except KeyboardInterrupt:
        print(
            f"memex-mcp eval: interrupted; finished task-runs are in {out}; run the same command to resume",
            file=sys.stderr,
        )
        return 130
    records = reported(suite, config)
    (out / "report.md").write_text(markdown(records, suite.name))
    try:
        if records:
            plot(records, out / "report.png", suite.name)
    except ImportError as exc:
        print(f"memex-mcp eval: no plot: {exc}", file=sys.stderr)
    print(markdown(records, suite.name).split("## Per task")[0].rstrip())
    print(f"\nReport: {out / 'report.md'}, {out / 'report.png'}; trajectories: {out / 'trajectories.jsonl'}")
    return 0
