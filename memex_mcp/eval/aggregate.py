"""`--aggregate N`: an aggregator that reads a task's N memex rollouts as objects and answers once.

The aggregator is a task-run of its own in a fresh memex session. Before its first turn, a setup
cell loads the rollouts into the kernel as `runs = trajectories(…, blind=True)`: from a copy of
their records without the expected answer and verdict, so the aggregator reads what the rollouts
did and answered, never the answer key. Its question is the task's, with a note saying where the
rollouts are. It is scored like any task-run and recorded as harness `memex+aggregate`, run 1; its
tokens and cost include the rollouts', since answering this way costs them all.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from memex_mcp.eval.harness import aggregate_question, log_file
from memex_mcp.eval.harness_memex import memex_harness
from memex_mcp.eval.loop import Budget, Trace, run_task
from memex_mcp.eval.models import ToolModel
from memex_mcp.eval.prices import Price
from memex_mcp.eval.suites import Suite, Task
from memex_mcp.records import RunKind, TaskRun

HARNESS: RunKind = "memex+aggregate"


async def aggregate_run(
    suite: Suite,
    task: Task,
    rollouts: Sequence[TaskRun],
    model: ToolModel,
    price: Price | None,
    budget: Budget,
    max_turns: int,
    tolerance: float,
    work: Path,
    cache: Path,
) -> TaskRun:
    """The aggregator's task-run over `rollouts` (the memex runs of `task` by `model`)."""
    started = time.monotonic()
    setup = 0.0
    scratch = Path(tempfile.mkdtemp(prefix="aggregate-", dir=work))
    try:
        blind = scratch / "rollouts.jsonl"
        hidden = {"expected": "", "correct": False, "verdict": "hidden from the aggregator"}
        blind.write_text("".join(r.model_copy(update=hidden).model_dump_json() + "\n" for r in rollouts))
        log = log_file(work, "aggregate", task.id)
        agent_model = model.name if model.name.split(":")[0] in ("openai", "anthropic") else None
        async with memex_harness(suite.data_dir, scratch, cache, agent_model, log) as h:
            await h.setup(f"runs = trajectories({str(blind.resolve())!r}, blind=True)")
            setup = time.monotonic() - started
            question = aggregate_question(task.question, len(rollouts))
            trace = await run_task(model, h, question, max_turns, price, budget)
    except Exception as exc:
        trace = Trace([], None, "error", f"the {HARNESS} harness failed: {type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    own_in, own_out = trace.tokens
    costs = [r.cost_usd for r in rollouts]
    cost = None
    if price is not None and None not in costs:
        cost = round(price.cost(own_in, own_out) + sum(c for c in costs if c is not None), 6)
    return trace.scored(
        suite,
        task,
        tolerance,
        harness=HARNESS,
        model=model.name,
        run=1,
        input_tokens=own_in + sum(r.input_tokens for r in rollouts),
        output_tokens=own_out + sum(r.output_tokens for r in rollouts),
        agent_input_tokens=sum(r.agent_input_tokens for r in rollouts),
        agent_output_tokens=sum(r.agent_output_tokens for r in rollouts),
        cost_usd=cost,
        wall_seconds=round(time.monotonic() - started - setup, 3),
        setup_seconds=round(setup, 3),
        rollouts=sorted(r.run for r in rollouts),
    )
