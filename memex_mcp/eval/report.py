"""The report of an eval: a Markdown table per task and overall, and a cost/accuracy plot.

Rows are per model and harness, so an output directory that several models ran into compares
them all. Costs are sums over task-runs; a model without a price shows "unknown". The plot puts
each (model, harness) at its mean cost per task-run (mean tokens when a cost is unknown or all are free) against
its accuracy, and draws the Pareto frontier: the points no other point beats on both. It needs
matplotlib: pip install 'memex-mcp[eval]'.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from memex_mcp.eval.records import TaskRun

#: The plot's size in pixels (width, height).
PLOT_SIZE = (900, 600)


@dataclass(frozen=True)
class Summary:
    model: str
    harness: str
    runs: int
    correct: int
    input_tokens: int
    output_tokens: int
    #: None when any task-run's cost is unknown.
    cost_usd: float | None
    turns: int
    wall_seconds: float
    chars_in: int
    #: Characters of tool results the model was sent (each once, as it arrived).
    result_chars: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.runs if self.runs else 0.0


def summarise(records: Sequence[TaskRun]) -> list[Summary]:
    """One summary per (model, harness), in first-seen order."""
    groups: dict[tuple[str, str], list[TaskRun]] = defaultdict(list)
    for r in records:
        groups[(r.model, r.harness)].append(r)
    return [_summary(model, harness, rs) for (model, harness), rs in groups.items()]


def _summary(model: str, harness: str, rs: Sequence[TaskRun]) -> Summary:
    costs = [r.cost_usd for r in rs]
    return Summary(
        model=model,
        harness=harness,
        runs=len(rs),
        correct=sum(r.correct for r in rs),
        input_tokens=sum(r.input_tokens for r in rs),
        output_tokens=sum(r.output_tokens for r in rs),
        cost_usd=None if any(c is None for c in costs) else sum(c for c in costs if c is not None),
        turns=sum(len(r.turns) for r in rs),
        wall_seconds=sum(r.wall_seconds for r in rs),
        chars_in=sum(t.chars_in for r in rs for t in r.turns),
        result_chars=sum(len(x.text) for r in rs for t in r.turns for x in t.results),
    )


def _cost(cost: float | None) -> str:
    return "unknown" if cost is None else f"{cost:.4f}"


def markdown(records: Sequence[TaskRun], suite: str) -> str:
    lines = [f"# memex-mcp eval: {suite}", "", "## Overall", ""]
    lines += [
        "| model | harness | right | accuracy | input tokens | output tokens | cost ($) | turns / run | "
        "tool result chars / run | chars to model / run | wall s / run |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summarise(records):
        lines.append(
            f"| {s.model} | {s.harness} | {s.correct}/{s.runs} | {s.accuracy:.0%} | {s.input_tokens:,} | "
            f"{s.output_tokens:,} | {_cost(s.cost_usd)} | {s.turns / s.runs:.1f} | {s.result_chars / s.runs:,.0f} | "
            f"{s.chars_in / s.runs:,.0f} | {s.wall_seconds / s.runs:.1f} |"
        )
    lines += ["", "## Per task", ""]
    lines += [
        "| task | model | harness | right | input tokens | output tokens | cost ($) | turns | wall s | answer |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    by_task: dict[tuple[str, str, str], list[TaskRun]] = defaultdict(list)
    for r in records:
        by_task[(r.task, r.model, r.harness)].append(r)
    for (task, model, harness), rs in sorted(by_task.items()):
        costs = [r.cost_usd for r in rs]
        cost = None if any(c is None for c in costs) else sum(c for c in costs if c is not None)
        answers = "; ".join(_cell(r.answer if r.answer is not None else f"({r.stop})") for r in rs)
        lines.append(
            f"| {task} | {model} | {harness} | {sum(r.correct for r in rs)}/{len(rs)} | "
            f"{sum(r.input_tokens for r in rs):,} | {sum(r.output_tokens for r in rs):,} | {_cost(cost)} | "
            f"{sum(len(r.turns) for r in rs)} | {sum(r.wall_seconds for r in rs):.1f} | {answers} |"
        )
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= 40 else text[:39] + "…"


def pareto(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points (cost, accuracy) that no other point beats: none is cheaper and at least as
    accurate, or as cheap and more accurate. Cheapest first."""
    frontier: list[tuple[float, float]] = []
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if not frontier or y > frontier[-1][1]:
            frontier.append((x, y))
    return frontier


def plot(records: Sequence[TaskRun], path: Path, suite: str) -> None:
    """Write the cost/accuracy scatter to `path` (PNG, `PLOT_SIZE` pixels)."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError("the plot needs matplotlib: pip install 'memex-mcp[eval]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summaries = summarise(records)
    # Free models (the scripted policy) are compared by tokens, as unpriced ones are.
    priced = all(s.cost_usd is not None for s in summaries) and any(s.cost_usd for s in summaries)
    xs = [(s.cost_usd or 0.0) / s.runs if priced else (s.input_tokens + s.output_tokens) / s.runs for s in summaries]
    ys = [100 * s.accuracy for s in summaries]
    dpi = 100
    fig, ax = plt.subplots(figsize=(PLOT_SIZE[0] / dpi, PLOT_SIZE[1] / dpi), dpi=dpi)
    try:
        ax.margins(x=0.2)
        middle = (min(xs) + max(xs)) / 2
        for i, (s, x, y) in enumerate(zip(summaries, xs, ys, strict=True)):
            ax.scatter([x], [y], s=60, marker="o" if s.harness == "memex" else "s", zorder=3)
            # Labels point inwards, alternately above and below, so they stay in the plot and apart.
            right = x > middle
            ax.annotate(
                f"{s.model} ({s.harness})",
                (x, y),
                textcoords="offset points",
                xytext=(-8 if right else 8, 8 if i % 2 else -14),
                ha="right" if right else "left",
                fontsize=8,
            )
        frontier = pareto(list(zip(xs, ys, strict=True)))
        # The frontier runs on to the right edge: nothing costlier is worth more than its last point.
        edge = max(xs) + (max(xs) - min(xs) or abs(max(xs)) or 1.0) * 0.2
        ax.step(
            [p[0] for p in frontier] + [edge],
            [p[1] for p in frontier] + [frontier[-1][1]],
            where="post",
            linestyle="--",
            color="grey",
            label="Pareto frontier",
        )
        ax.legend(loc="lower right")
        ax.set_xlabel("mean cost per task-run ($)" if priced else "mean tokens per task-run (cost unknown or zero)")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(-5, 105)
        ax.set_title(f"memex-mcp eval: {suite}")
        ax.grid(alpha=0.3)
        fig.savefig(path, dpi=dpi, format="png")
    finally:
        plt.close(fig)
