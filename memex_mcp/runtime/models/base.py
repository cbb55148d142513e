"""The one interface every model provider implements, and the values that cross it.

A provider is called from an agent's own thread and blocks until the model answers; agents run
in parallel because each waits in its own thread.

A provider may set the class attribute `interruptible = True` when its `complete` can be stopped
by an exception raised in that thread (it waits in Python, in short slices, and cleans up in
`finally`): a cancelled or timed-out agent then stops waiting at once. Without it, the call runs
to its end and its answer is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class Reply:
    text: str
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class Request:
    """One model call: the whole conversation so far (system first, if any)."""

    messages: list[Message]
    max_tokens: int = 4096
    #: Free-form facts a provider may use (the agent's name, its turn number), never sent as text.
    info: dict[str, object] = field(default_factory=dict)


@runtime_checkable
class Model(Protocol):
    #: How the model is named in transcripts and errors, e.g. "openai:gpt-4.1-mini".
    name: str

    def complete(self, request: Request) -> Reply:
        """The model's answer. Raises `ModelError` with a message that says what to fix."""
        ...


class ModelError(Exception):
    """A provider could not answer: not configured, refused, unreachable. The message says what to do."""
