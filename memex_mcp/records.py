"""The record of one task-run of `memex-mcp eval`: one JSON line of `trajectories.jsonl`.

Each line is self-contained (the task, the model, every turn with the model's text, its tool
calls and their results, tokens, cost, verdict) so a run can be loaded back as objects with
`TaskRun.model_validate_json(line)` without the suite at hand. Both sides load this module: the
eval writes the records, the kernel's `trajectories()` reads them (pydantic only, like `protocol`).
Fields added later have defaults, so older lines still load.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Harness = Literal["memex", "tools"]
#: Where a task-run ran: a harness, or `memex+aggregate`, an aggregator in the memex harness that
#: read the memex rollouts of its task (`--aggregate N`) and answered once for them.
RunKind = Literal["memex", "tools", "memex+aggregate"]
#: Why a task-run ended: an answer was given, the turns ran out, the conversation outgrew the model's
#: context window (a result of the harness, scored as wrong), the budget ran out, or it failed.
Stop = Literal["answered", "max_turns", "context", "budget", "error"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ToolCallRecord(_Record):
    id: str
    name: str
    arguments: dict[str, Any]


class ToolResultRecord(_Record):
    call_id: str
    name: str
    #: The exact text the model was sent.
    text: str
    is_error: bool = False


class Turn(_Record):
    """One model call and what its tool calls returned."""

    index: int
    text: str
    tool_calls: list[ToolCallRecord] = []
    results: list[ToolResultRecord] = []
    input_tokens: int
    output_tokens: int
    #: Characters of the conversation sent to the model in this call (messages and tool schemas).
    chars_in: int
    seconds: float


class TaskRun(_Record):
    suite: str
    task: str
    harness: RunKind
    model: str
    #: 1 for the first run of a task in this harness (`--runs N` makes 1..N).
    run: int
    question: str
    expected: str
    answer: str | None
    correct: bool
    #: How the scorer compared them, e.g. "numbers: 1234.5 vs 1234.5 (rel. error 0)".
    verdict: str
    stop: Stop
    error: str | None = None
    turns: list[Turn]
    #: All tokens of the task-run: its turns' plus its sub-agents' (`agent_*_tokens`, memex only).
    input_tokens: int
    output_tokens: int
    agent_input_tokens: int = 0
    agent_output_tokens: int = 0
    #: None when the model has no price in the table: unknown, not free.
    cost_usd: float | None
    #: Seconds from the first model call to the end (the harness's start-up is `setup_seconds`).
    wall_seconds: float
    setup_seconds: float = 0.0
    #: `memex+aggregate` only: the run numbers of the memex rollouts it read. Its tokens and cost
    #: include theirs, since answering this way costs them all.
    rollouts: list[int] = []

    @property
    def key(self) -> tuple[str, str, str, int]:
        return key(self.harness, self.task, self.model, self.run)


def key(harness: str, task: str, model: str, run: int) -> tuple[str, str, str, int]:
    """What makes a task-run the same one again, for resuming: harness, task, model and run number."""
    return (harness, task, model, run)
