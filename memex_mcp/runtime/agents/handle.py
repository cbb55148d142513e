"""`AgentHandle`: what `spawn_agent` returns at once, and how its result is waited for."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from memex_mcp.text import shorten

AgentStatus = Literal["running", "done", "failed", "cancelled"]


class AgentFailed(Exception):
    """An agent ended without a valid answer: failed, timed out or cancelled. `reason` says why."""

    def __init__(self, message: str, failed: Sequence[AgentHandle] = ()) -> None:
        super().__init__(message)
        self.failed = list(failed)


@dataclass(frozen=True)
class Turn:
    """One model call: what the model wrote, the code that ran (if any) and its full output."""

    number: int
    text: str
    code: str
    output: str

    def __repr__(self) -> str:
        code = f"{len(self.code):,} chars of code" if self.code else "no code"
        return f"<Turn {self.number}: {code} → {len(self.output):,} chars of output>"


@dataclass
class Usage:
    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    wall_seconds: float = 0.0

    def __repr__(self) -> str:
        return (
            f"{self.model_calls} model calls, {self.input_tokens:,} in / {self.output_tokens:,} out tokens, "
            f"{self.wall_seconds:.1f} s"
        )


class AgentHandle:
    """A running or finished sub-agent. `result()` waits for its validated answer."""

    def __init__(self, name: str, task: str, depth: int, max_turns: int) -> None:
        self.name = name
        self.task = task
        self.depth = depth
        self.max_turns = max_turns
        self.transcript: list[Turn] = []
        self.children: list[AgentHandle] = []
        #: Set by the registry as it starts the agent: its number in the kernel (1, 2, …), the agent
        #: that started it, the names of its inputs and its model, for the viewer's record.
        self.serial = 0
        self.parent: AgentHandle | None = None
        self.inputs: list[str] = []
        self.model_name = ""
        self.started_at = time.time()
        #: Told whenever a turn or the outcome changes the agent (the viewer's record is rewritten).
        self.observer: Callable[[AgentHandle], None] = _unobserved
        self._usage = Usage()
        self._status: AgentStatus = "running"
        self._value: Any = None
        self._reason = ""
        self._finished = threading.Event()
        self._lock = threading.Lock()
        self._started = time.monotonic()
        #: Set by the agent's runner: stops the code it is running (cancel, timeout).
        self._interrupt: Callable[[], None] = lambda: None

    @property
    def status(self) -> AgentStatus:
        return self._status

    @property
    def usage(self) -> Usage:
        if self._status == "running":
            self._usage.wall_seconds = time.monotonic() - self._started
        return self._usage

    @property
    def reason(self) -> str:
        """Why it failed or was cancelled ('' while running or when done)."""
        return self._reason

    def done(self) -> bool:
        return self._finished.is_set()

    def result(self, timeout: float | None = None) -> Any:
        """The validated answer, once the agent submits it. Raises `AgentFailed` if it ends otherwise,
        `TimeoutError` if it is still running after `timeout` seconds (it keeps running)."""
        from memex_mcp.runtime.agents.waiting import wait_for

        wait_for([self], timeout)
        return self._outcome()

    def cancel(self) -> bool:
        """Stop the agent (and the agents it started). False if it had already finished."""
        if not self._finish("cancelled", reason="it was cancelled"):
            return False
        self._interrupt()
        return True

    def __await__(self) -> Generator[Any, None, Any]:
        import asyncio

        return asyncio.to_thread(self.result).__await__()

    def _outcome(self) -> Any:
        if self._status == "done":
            return self._value
        raise AgentFailed(f"{self.name} {self._status}: {self._reason}", [self])

    def _finish(self, status: AgentStatus, value: Any = None, reason: str = "") -> bool:
        """End the agent once: the first outcome wins (a cancel beats a late answer)."""
        with self._lock:
            if self._finished.is_set():
                return False
            self._usage.wall_seconds = time.monotonic() - self._started
            self._status, self._value, self._reason = status, value, reason
            self._finished.set()
        self.changed()
        if status != "done":
            for child in list(self.children):
                child.cancel()
        return True

    def changed(self) -> None:
        """Tell the observer; its failure is never the agent's."""
        with contextlib.suppress(Exception):
            self.observer(self)

    def summary(self) -> str:
        """One line: status, turns, usage, and why it failed."""
        why = f" ({_line(self._reason, 60)})" if self._reason else ""
        turns = f"turn {len(self.transcript)}/{self.max_turns}"
        return f"{self._status}{why}, {turns}, {self.usage!r}: {_line(self.task, 40)}"

    def __repr__(self) -> str:
        return f"<AgentHandle {self.name} {self.summary()}>"


def _unobserved(handle: AgentHandle) -> None:
    pass


def _line(text: str, width: int) -> str:
    return shorten(" ".join(text.split()), width)  # one line, whatever the reason or task holds
