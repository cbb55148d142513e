"""An agent's loop run in this process, without a kernel: a `Runner` over a plain namespace dict,
driven by the shipped `ScriptedModel`, whose answers are Python functions here."""

from __future__ import annotations

import contextlib
import io
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from memex_mcp.clock import FakeClock
from memex_mcp.runtime.agents.handle import AgentFailed, AgentHandle
from memex_mcp.runtime.agents.namespace import AgentNamespace
from memex_mcp.runtime.agents.prompt import REMINDER
from memex_mcp.runtime.agents.returns import Contract
from memex_mcp.runtime.agents.runner import Runner
from memex_mcp.runtime.agents.waiting import wait_for
from memex_mcp.runtime.cells.streams import StreamTee
from memex_mcp.runtime.models.base import Message
from memex_mcp.runtime.models.scripted import ScriptedModel

#: Every wait in these tests is bounded by this many seconds.
BOUND = 30.0


@contextlib.contextmanager
def kernel_stdout() -> Iterator[None]:
    """stdout teed as in a kernel, so what agent code prints goes to the agent. Entered in the test's
    body: pytest sets a stdout of its own as each phase of a test begins."""
    saved, stream = sys.stdout, io.StringIO()
    StreamTee(stream, lambda tee, text, origin: tee.send(text)).install()
    sys.stdout = stream
    try:
        yield
    finally:
        sys.stdout = saved


def fenced(code: str) -> str:
    return f"Here goes.\n```python\n{code}\n```"


def start_agent(
    answer: Any, parent: dict[str, Any] | None = None, returns: Any = int, max_turns: int = 5
) -> AgentHandle:
    """Start an agent whose model answers with `answer(messages, info)`, over `parent`'s names."""
    handle = AgentHandle("probe", "Find the answer.", depth=1, max_turns=max_turns)
    scope = AgentNamespace(parent if parent is not None else {}, {})
    limits = threading.BoundedSemaphore(1)
    runner = Runner(handle, ScriptedModel(answer), Contract(returns), scope, "You are a probe.", limits, 10_000, BOUND)
    scope["submit"] = runner.submit
    scope["history"] = runner.history
    runner.start(lambda _: None)
    return handle


def test_an_agent_that_submits_on_its_first_turn_returns_the_value() -> None:
    handle = start_agent(lambda messages, info: fenced("submit(6 * 7)"))
    assert handle.result(timeout=BOUND) == 42
    assert handle.status == "done"
    assert [turn.code for turn in handle.transcript] == ["submit(6 * 7)\n"]
    assert handle.usage.model_calls == 1


def test_the_model_reads_what_its_code_printed_and_its_task() -> None:
    seen: list[list[Message]] = []

    def answer(messages: list[Message], info: dict[str, object]) -> str:
        seen.append(messages)
        if info["turn"] == 1:
            return fenced("rows = [3, 1, 2]\nprint('rows:', len(rows))\nsorted(rows)")
        return fenced("submit(len(rows))")

    with kernel_stdout():
        handle = start_agent(answer)
        assert handle.result(timeout=BOUND) == 3
    first, second = seen
    assert [m.role for m in first] == ["system", "user"]
    assert first[1].content == "Your task:\nFind the answer."
    assert second[-1] == Message("user", "rows: 3\n[1, 2, 3]\n")
    assert handle.transcript[0].output == "rows: 3\n[1, 2, 3]\n"


def test_a_value_that_does_not_fit_returns_is_an_error_the_agent_reads_and_it_goes_on() -> None:
    def answer(messages: list[Message], info: dict[str, object]) -> str:
        return fenced("submit('three')" if info["turn"] == 1 else "submit(3)")

    handle = start_agent(answer)
    assert handle.result(timeout=BOUND) == 3
    refused = handle.transcript[0].output
    assert "SubmitError: The value does not match returns=int" in refused
    assert refused.rstrip().endswith("Fix it and submit again.")


def test_a_failing_block_shows_the_agents_own_frames_and_the_agent_goes_on() -> None:
    def answer(messages: list[Message], info: dict[str, object]) -> str:
        return fenced("def half(x):\n    return x / 0\nhalf(1)" if info["turn"] == 1 else "submit(1)")

    handle = start_agent(answer)
    assert handle.result(timeout=BOUND) == 1
    error = handle.transcript[0].output
    assert "ZeroDivisionError: division by zero" in error
    assert "  turn 1, line 3, in <module>\n    half(1)\n  turn 1, line 2, in half\n" in error
    assert "memex_mcp" not in error


def test_a_reply_without_code_gets_the_reminder_and_too_many_turns_fail_the_agent() -> None:
    seen: list[list[Message]] = []

    def answer(messages: list[Message], info: dict[str, object]) -> str:
        seen.append(messages)
        return "Let me think about it."

    handle = start_agent(answer, max_turns=2)
    with pytest.raises(AgentFailed, match="probe failed: it did not submit an answer within max_turns=2"):
        handle.result(timeout=BOUND)
    assert seen[-1][-1] == Message("user", REMINDER)
    assert [turn.code for turn in handle.transcript] == ["", ""]


def test_an_agent_reads_its_parents_names_and_its_assignments_stay_its_own() -> None:
    parent = {"rows": [1, 2, 3], "limit": 10}
    handle = start_agent(lambda m, i: fenced("limit = 2\nsubmit(sum(rows[:limit]))"), parent=parent)
    assert handle.result(timeout=BOUND) == 3
    assert parent == {"rows": [1, 2, 3], "limit": 10}


def test_a_model_that_raises_fails_the_agent_naming_the_error() -> None:
    def answer(messages: list[Message], info: dict[str, object]) -> str:
        raise ConnectionError("the provider hung up")

    handle = start_agent(answer)
    with pytest.raises(AgentFailed, match="the model failed: scripted raised ConnectionError: the provider hung up"):
        handle.result(timeout=BOUND)


def test_a_cancelled_agent_stops_the_code_it_runs() -> None:
    running, stopped = threading.Event(), threading.Event()
    code = "running.set()\ntry:\n    while True:\n        pass\nfinally:\n    stopped.set()"
    handle = start_agent(lambda m, i: fenced(code), parent={"running": running, "stopped": stopped})
    assert running.wait(BOUND)
    assert handle.cancel()
    assert stopped.wait(BOUND)
    assert handle.status == "cancelled"
    with pytest.raises(AgentFailed, match="probe cancelled: it was cancelled"):
        handle.result(timeout=BOUND)


def test_waiting_past_the_timeout_raises_and_leaves_the_agent_running() -> None:
    asked, release = threading.Event(), threading.Event()

    def answer(messages: list[Message], info: dict[str, object]) -> str:
        asked.set()
        release.wait(BOUND)
        return fenced("submit(5)")

    handle = start_agent(answer)
    assert asked.wait(BOUND)
    clock = FakeClock()
    with pytest.raises(TimeoutError, match=r"^probe still running after 2 s; they keep running\."):
        wait_for([handle], 2.0, clock=clock)
    assert clock.monotonic() == 2.0 and not handle.done()
    release.set()
    assert handle.result(timeout=BOUND) == 5
