"""What both harnesses offer the agent loop: tool schemas, a call, and how an answer is handed in.

The final answer is given the same way in both: a `submit` tool call (memex-mcp's own `submit` in
the memex harness, a `submit(value)` of the same name and meaning in the tools harness) ends the
task-run with the submitted value; a reply without any tool call ends it too, its text taken as the
answer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from memex_mcp.eval.models import ToolSpec

#: The instructions both harnesses give the model, before any the harness adds.
SYSTEM = (
    "You answer questions about the data you are given access to through your tools: tables and "
    "documents (reports, memos). Use the tools to find the answer; do not guess. When you know it, "
    "call `submit` with the answer alone (a number with its unit, a name, a date), not an explanation."
)


def log_file(work: Path, *name: object) -> Path:
    """Where a task-run's harness server writes its log: `<out>/logs/<name parts joined by ->.log`,
    each part made safe for a file name (a task id may hold any character)."""
    safe = (re.sub(r"[^\w.-]+", "_", str(part))[:80] for part in name)
    return work.parent / "logs" / f"{'-'.join(safe)}.log"


#: How the aggregator's question begins its note (`--aggregate N`); a scripted policy knows it by this.
AGGREGATE_MARK = "earlier attempts at this question are loaded in your scratchpad as `runs`"


def aggregate_question(question: str, rollouts: int) -> str:
    """What the aggregator is asked: the task's question, and where the rollouts are."""
    return (
        f"{question}\n\n{rollouts} {AGGREGATE_MARK}: print it for a table; each run has .answer, .stop, "
        ".error and .turns, whose steps have .code (what it ran) and .output (what it got). Their answers "
        "were not checked. Read them, check the work where they disagree or look wrong, and submit the one "
        "best answer."
    )


@dataclass(frozen=True)
class Outcome:
    """A tool call's result: the text the model is sent, and the answer if it was a successful submit."""

    text: str
    is_error: bool = False
    answer: str | None = None


class Harness(Protocol):
    @property
    def name(self) -> Literal["memex", "tools"]: ...

    @property
    def tools(self) -> list[ToolSpec]: ...

    @property
    def instructions(self) -> str:
        """Added to `SYSTEM` (the memex server's MCP instructions, as an MCP client passes them on)."""
        ...

    async def call(self, name: str, arguments: dict[str, Any]) -> Outcome: ...


def answer_text(value: Any) -> str:
    """A submitted JSON value as the answer's text: strings as they are, the rest as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
