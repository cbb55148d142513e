"""A model whose answers a Python function writes: for tests, examples and benchmarks.

    def answer(messages, info):
        if info["turn"] == 1:
            return "```python\\nprint(len(rows))\\n```"
        return "```python\\nsubmit(42)\\n```"

    spawn_agent("Count the rows", inputs=["rows"], model=ScriptedModel(answer))

`info` carries the agent's `name`, its `turn` (1 for the first call), its `depth` and `task`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from memex_mcp.runtime.models.base import Message, Reply, Request

Answer = Callable[[list[Message], dict[str, object]], str]


class ScriptedModel:
    #: Its answers are Python functions: a cancelled agent stops them as it stops agent code.
    interruptible = True

    def __init__(self, fn: Answer, latency: float = 0.0, name: str = "scripted") -> None:
        """`latency`: seconds each call sleeps before answering, as a remote model would take."""
        self.fn = fn
        self.latency = latency
        self.name = name
        self.calls = 0
        self._lock = threading.Lock()  # many agents call one model at once

    @classmethod
    def replies(cls, texts: Sequence[str], latency: float = 0.0) -> ScriptedModel:
        """Answers `texts[i]` on turn i + 1 of every agent (the last one again after that)."""
        answers = list(texts)

        def answer(messages: list[Message], info: dict[str, object]) -> str:
            turn = sum(1 for m in messages if m.role == "assistant")
            return answers[min(turn, len(answers) - 1)]

        return cls(answer, latency)

    def complete(self, request: Request) -> Reply:
        if self.latency:
            time.sleep(self.latency)
        with self._lock:
            self.calls += 1
        text = self.fn(list(request.messages), dict(request.info))
        # Roughly four characters a token, as real tokenizers average on English and code.
        prompt = sum(len(m.content) for m in request.messages)
        return Reply(text=text, input_tokens=max(1, prompt // 4), output_tokens=max(1, len(text) // 4))

    def __repr__(self) -> str:
        return f"<ScriptedModel {self.name!r}>"
