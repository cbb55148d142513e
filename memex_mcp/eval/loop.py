"""One task-run: the agent loop of a model in a harness, recorded turn by turn.

Each turn sends the whole conversation and the harness's tools to the model and runs the tool
calls of its reply, in order. The run ends at a successful `submit` (its value is the answer), at
a reply without tool calls (its text is the answer), after `max_turns` model calls, when the
conversation outgrows the model's context (the provider refuses it: an outcome of the harness,
scored as wrong and not retried), or when the eval's budget is spent.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio

from memex_mcp.eval.harness import SYSTEM, Harness
from memex_mcp.eval.models import ChatMessage, ModelError, ToolModel, ToolReply
from memex_mcp.eval.prices import Price
from memex_mcp.eval.records import Stop, TaskRun, ToolCallRecord, ToolResultRecord, Turn
from memex_mcp.eval.score import score
from memex_mcp.eval.suites import Suite, Task

#: Output tokens a model may write in one turn.
MAX_OUTPUT_TOKENS = 4096
#: How OpenAI, Anthropic, vLLM, llama.cpp and Ollama say that a request is longer than the context.
_OVERFLOW = re.compile(
    r"context[_ ]length[_ ]exceeded|maximum context length|prompt is too long|context window|"
    r"exceeds the available context|too many tokens|input length .* exceeds",
    re.IGNORECASE,
)


def overflowed(error: str) -> bool:
    """Whether a provider's error says the conversation no longer fits the model's context."""
    return _OVERFLOW.search(error) is not None


@dataclass
class Trace:
    """What a task-run produced, before it is scored."""

    turns: list[Turn]
    answer: str | None
    stop: Stop
    error: str | None = None

    @property
    def tokens(self) -> tuple[int, int]:
        """Input and output tokens of this task-run's own model calls."""
        return sum(t.input_tokens for t in self.turns), sum(t.output_tokens for t in self.turns)

    def scored(self, suite: Suite, task: Task, tolerance: float, **fields: Any) -> TaskRun:
        """The record of this trace as an answer to `task`; `fields`: the rest of `TaskRun`'s."""
        verdict = score(self.answer, task.answer, tolerance)
        return TaskRun(
            suite=suite.name,
            task=task.id,
            question=task.question,
            expected=task.answer,
            answer=self.answer,
            correct=verdict.correct,
            verdict=verdict.how,
            stop=self.stop,
            error=self.error,
            turns=self.turns,
            **fields,
        )


class Budget:
    """Dollars the whole eval may spend; shared by its task-runs (all in one event loop)."""

    def __init__(self, limit: float | None) -> None:
        self.limit = limit
        self.spent = 0.0

    @property
    def exhausted(self) -> bool:
        return self.limit is not None and self.spent >= self.limit


async def run_task(
    model: ToolModel,
    harness: Harness,
    question: str,
    max_turns: int,
    price: Price | None,
    budget: Budget,
    clock: Callable[[], float] = time.monotonic,
) -> Trace:
    system = SYSTEM + (f"\n\n{harness.instructions}" if harness.instructions else "")
    messages = [ChatMessage("system", system), ChatMessage("user", question)]
    turns: list[Turn] = []
    for index in range(1, max_turns + 1):
        if budget.exhausted:
            return Trace(turns, None, "budget")
        started = clock()
        chars_in = sum(len(m.text) + sum(len(json.dumps(c.arguments)) for c in m.tool_calls) for m in messages)
        chars_in += sum(len(t.description) + len(json.dumps(t.parameters)) for t in harness.tools)
        try:
            reply = await anyio.to_thread.run_sync(model.complete, messages, harness.tools, MAX_OUTPUT_TOKENS)
        except ModelError as exc:
            return Trace(turns, None, "context" if overflowed(str(exc)) else "error", str(exc))
        if price is not None:
            budget.spent += price.cost(reply.input_tokens, reply.output_tokens)
        messages.append(ChatMessage("assistant", reply.text, tuple(reply.tool_calls)))
        results: list[ToolResultRecord] = []
        answer: str | None = None
        for call in reply.tool_calls:
            if call.error is not None:
                text, is_error = f"{call.name}: {call.error}", True
            else:
                try:
                    outcome = await harness.call(call.name, call.arguments)
                except Exception as exc:  # the harness itself broke (a server that died): nothing more can run
                    failure = f"the {harness.name} harness failed on {call.name}: {type(exc).__name__}: {exc}"
                    turns.append(_turn(index, reply, results, chars_in, clock() - started))
                    return Trace(turns, None, "error", failure)
                text, is_error = outcome.text, outcome.is_error
                answer = outcome.answer if outcome.answer is not None else answer
            results.append(ToolResultRecord(call_id=call.id, name=call.name, text=text, is_error=is_error))
            messages.append(ChatMessage("tool", text, tool_call_id=call.id, is_error=is_error))
        turns.append(_turn(index, reply, results, chars_in, clock() - started))
        if answer is not None:
            return Trace(turns, answer, "answered")
        if not reply.tool_calls:
            return Trace(turns, reply.text, "answered")
    return Trace(turns, None, "max_turns")


def _turn(index: int, reply: ToolReply, results: list[ToolResultRecord], chars_in: int, seconds: float) -> Turn:
    return Turn(
        index=index,
        text=reply.text,
        tool_calls=[ToolCallRecord(id=c.id, name=c.name, arguments=c.arguments) for c in reply.tool_calls],
        results=results,
        input_tokens=reply.input_tokens,
        output_tokens=reply.output_tokens,
        chars_in=chars_in,
        seconds=round(seconds, 3),
    )
