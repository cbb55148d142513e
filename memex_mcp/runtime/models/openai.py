"""`openai:<model>`: any server that speaks OpenAI's chat completions API.

The `openai` package reads `OPENAI_API_KEY` and `OPENAI_BASE_URL` itself, so vLLM, Ollama and
llama.cpp servers work by pointing `OPENAI_BASE_URL` at them (they need no real key).
"""

from __future__ import annotations

import os
from typing import Any

from memex_mcp.runtime.models.base import Message, ModelError, Reply, Request
from memex_mcp.runtime.models.guard import check_allowed


class OpenAIModel:
    def __init__(self, model: str, client: Any = None) -> None:
        """`client`: an `openai.OpenAI` to use instead of one built from the environment."""
        self.model = model
        self.name = f"openai:{model}"
        self._client = client

    def complete(self, request: Request) -> Reply:
        check_allowed(self.name)
        client = self._client or self._connect()
        import openai

        try:
            response = client.chat.completions.create(
                model=self.model,
                messages=[_message(m) for m in request.messages],
                max_tokens=request.max_tokens,
            )
        except openai.OpenAIError as exc:
            raise ModelError(f"{self.name} failed: {exc}") from None
        if not response.choices:
            raise ModelError(f"{self.name} answered without a choice.")
        usage = response.usage
        return Reply(
            text=response.choices[0].message.content or "",
            input_tokens=usage.prompt_tokens if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
        )

    def _connect(self) -> Any:
        try:
            import openai
        except ImportError:
            raise ModelError(f"{self.name} needs the openai package: pip install 'memex-mcp[openai]'") from None
        key = os.environ.get("OPENAI_API_KEY")
        if not key and not os.environ.get("OPENAI_BASE_URL"):
            raise ModelError(
                f"{self.name} needs OPENAI_API_KEY (or OPENAI_BASE_URL for a local OpenAI-compatible server)."
            )
        # Local servers need no key, but the client insists on one.
        self._client = openai.OpenAI(api_key=key or "unused")
        return self._client

    def __repr__(self) -> str:
        return f"<OpenAIModel {self.model!r}>"


def _message(message: Message) -> dict[str, str]:
    return {"role": message.role, "content": message.content}
