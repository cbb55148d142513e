"""Many task-runs: every task of a suite, in each harness, `runs` times, in parallel, resumable.

Records are appended to `OUT/trajectories.jsonl` as each task-run ends, so an interrupted eval
loses only the task-runs in flight. Running the same command with the same `--out` again skips
every task-run already recorded (by harness, task, model and run number) unless it ended in an
error (a provider outage, a server that did not start) or ran out of budget: those run again, and the newest record of
a task-run is the one reported.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import anyio
from pydantic import ValidationError

from memex_mcp.eval import harness as harness_api
from memex_mcp.eval import prices as price_table
from memex_mcp.eval.aggregate import HARNESS as AGGREGATE
from memex_mcp.eval.aggregate import aggregate_run
from memex_mcp.eval.harness_memex import MemexHarness, memex_harness
from memex_mcp.eval.harness_tools import tools_harness
from memex_mcp.eval.loop import Budget, Trace, run_task
from memex_mcp.eval.models import ToolModel
from memex_mcp.eval.records import Harness, TaskRun, key
from memex_mcp.eval.score import DEFAULT_TOLERANCE
from memex_mcp.eval.suites import Suite, Task

TRAJECTORIES = "trajectories.jsonl"


@dataclass(frozen=True)
class EvalConfig:
    harnesses: Sequence[Harness] = ("memex", "tools")
    runs: int = 1
    max_turns: int = 20
    budget_usd: float | None = None
    out: Path = Path("memex-eval")
    parallel: int = 4
    prices: Path | None = None
    tolerance: float = DEFAULT_TOLERANCE
    #: N > 0: after the runs, an aggregator per task reads memex runs 1..N and answers once.
    aggregate: int = 0


class EvalError(ValueError):
    pass


def load_records(path: Path) -> list[TaskRun]:
    """The task-runs recorded in `path`, oldest first. A line cut short by a killed run is skipped."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        if line.strip():
            with contextlib.suppress(ValidationError):
                records.append(TaskRun.model_validate_json(line))
    return records


def latest(records: Sequence[TaskRun]) -> list[TaskRun]:
    """The newest record of each task-run, in first-recorded order."""
    by_key: dict[tuple[str, str, str, int], TaskRun] = {}
    for record in records:
        by_key[record.key] = record
    return list(by_key.values())


def reported(suite: Suite, config: EvalConfig) -> list[TaskRun]:
    """What the report of this suite shows: the latest record of each task-run in `config.out` of its
    tasks, harnesses and runs, by every model recorded there (so runs of several models compare)."""
    tasks = {t.id for t in suite.tasks}
    kinds = [*config.harnesses, *([AGGREGATE] if config.aggregate else [])]
    return [
        r
        for r in latest(load_records(config.out / TRAJECTORIES))
        if r.task in tasks and r.harness in kinds and r.run <= config.runs
    ]


async def run_eval(
    suite: Suite, model: ToolModel, config: EvalConfig, progress: IO[str] | None = None
) -> list[TaskRun]:
    """Run what is not recorded yet; returns the latest record of every task-run of `model` in
    `config.out`. `progress`: where the progress bar goes (None: nowhere)."""
    table = price_table.load(config.prices)
    price = price_table.price_of(model.name, table)
    if config.budget_usd is not None and price is None:
        raise EvalError(
            f"--budget-usd needs the price of {model.name}, which is not in the price table: give it with "
            f'--prices FILE ({{"{model.name}": {{"input": <$/M tokens>, "output": <$/M tokens>}}}})'
        )
    config.out.mkdir(parents=True, exist_ok=True)
    path = config.out / TRAJECTORIES
    done = {r.key for r in latest(load_records(path)) if r.stop not in ("error", "budget")}
    jobs = [
        (harness, task, run)
        for run in range(1, config.runs + 1)
        for task in suite.tasks
        for harness in config.harnesses
        if key(harness, task.id, model.name, run) not in done
    ]
    aggregates = [
        task for task in suite.tasks if config.aggregate and key(AGGREGATE, task.id, model.name, 1) not in done
    ]
    if path.is_file() and path.stat().st_size and not path.read_bytes().endswith(b"\n"):
        with path.open("a") as f:  # a line cut short by a kill: the next record starts on its own line
            f.write("\n")
    bar = Bar(len(jobs) + len(aggregates), progress)
    budget = Budget(config.budget_usd)
    limit = anyio.Semaphore(max(1, config.parallel))
    work = config.out / "work"
    cache = config.out / "cache"
    work.mkdir(exist_ok=True)
    lock = anyio.Lock()

    async def one(harness: Harness, task: Task, run: int) -> None:
        async with limit:
            if budget.exhausted:  # not recorded: a later run with a larger budget does it
                bar.advance(f"{harness} {task.id}: skipped, the budget is spent")
                return
            record = await _task_run(suite, task, harness, run, model, price, budget, config, work, cache)
            async with lock:
                with path.open("a") as f:
                    f.write(record.model_dump_json() + "\n")
            bar.advance(f"{harness} {task.id}: {'right' if record.correct else record.stop}")

    async def aggregated(task: Task) -> None:
        async with limit:
            rollouts = [
                r
                for r in latest(load_records(path))
                if (r.harness, r.task, r.model) == ("memex", task.id, model.name) and r.run <= config.aggregate
            ]
            if budget.exhausted or not rollouts:
                bar.advance(f"{AGGREGATE} {task.id}: skipped, {'the budget is spent' if rollouts else 'no rollouts'}")
                return
            args = (model, price, budget, config.max_turns, config.tolerance, work, cache)
            record = await aggregate_run(suite, task, rollouts, *args)
            async with lock:
                with path.open("a") as f:
                    f.write(record.model_dump_json() + "\n")
            bar.advance(f"{AGGREGATE} {task.id}: {'right' if record.correct else record.stop}")

    async with anyio.create_task_group() as group:
        for job in jobs:
            group.start_soon(one, *job)
    # The aggregators read the rollouts, so they start once every rollout is recorded.
    async with anyio.create_task_group() as group:
        for task in aggregates:
            group.start_soon(aggregated, task)
    bar.close()
    with contextlib.suppress(OSError):  # kept if a task-run's scratch could not be removed
        work.rmdir()
    return [r for r in latest(load_records(path)) if r.model == model.name]


async def _task_run(
    suite: Suite,
    task: Task,
    harness: Harness,
    run: int,
    model: ToolModel,
    price: price_table.Price | None,
    budget: Budget,
    config: EvalConfig,
    work: Path,
    cache: Path,
) -> TaskRun:
    started = time.monotonic()
    setup = 0.0
    agent_in = agent_out = 0
    scratch = Path(tempfile.mkdtemp(prefix=f"{harness}-{run}-", dir=work))
    try:
        log = harness_api.log_file(work, harness, task.id, run)
        async with _harness(harness, suite, model, scratch, cache, log) as h:
            setup = time.monotonic() - started
            trace = await run_task(model, h, task.question, config.max_turns, price, budget)
            if isinstance(h, MemexHarness):
                agent_in, agent_out = await h.agent_usage()
    except Exception as exc:
        trace = Trace([], None, "error", f"the {harness} harness failed: {type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    own_in, own_out = trace.tokens
    tokens_in, tokens_out = own_in + agent_in, own_out + agent_out
    return trace.scored(
        suite,
        task,
        config.tolerance,
        harness=harness,
        model=model.name,
        run=run,
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        agent_input_tokens=agent_in,
        agent_output_tokens=agent_out,
        cost_usd=None if price is None else round(price.cost(tokens_in, tokens_out), 6),
        wall_seconds=round(time.monotonic() - started - setup, 3),
        setup_seconds=round(setup, 3),
    )


@contextlib.asynccontextmanager
async def _harness(
    name: Harness, suite: Suite, model: ToolModel, scratch: Path, cache: Path, log: Path
) -> AsyncIterator[harness_api.Harness]:
    if name == "memex":
        # Sub-agents think with the eval's model when it is a provider the server can call.
        agent_model = model.name if model.name.split(":")[0] in ("openai", "anthropic") else None
        async with memex_harness(suite.data_dir, scratch, cache, agent_model, log) as memex:
            yield memex
    else:
        async with tools_harness(suite.data_dir, scratch, cache) as tools:
            yield tools


class Bar:
    """A progress bar on a terminal; one line per finished task-run elsewhere (a log, a pipe)."""

    def __init__(self, total: int, stream: IO[str] | None) -> None:
        self.total, self.done, self.stream = total, 0, stream
        self.tty = bool(stream is not None and stream.isatty())
        self.started = time.monotonic()
        if stream is not None and total == 0:
            print("memex-mcp eval: every task-run is recorded already; reporting", file=stream)

    def advance(self, label: str) -> None:
        self.done += 1
        if self.stream is None:
            return
        elapsed = time.monotonic() - self.started
        if self.tty:
            filled = 30 * self.done // max(self.total, 1)
            line = f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total} {elapsed:5.0f}s {label}"
            self.stream.write(line[:120].ljust(120))
        else:
            self.stream.write(f"[{self.done}/{self.total}] {elapsed:.0f}s {label}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.stream is not None and self.tty and self.total:
            self.stream.write("\n")
            self.stream.flush()
