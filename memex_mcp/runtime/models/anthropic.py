"""`anthropic:<model>`: Anthropic's Messages API (`ANTHROPIC_API_KEY`)."""

from __future__ import annotations

import os
from typing import Any

from memex_mcp.runtime.models.base import ModelError, Reply, Request
from memex_mcp.runtime.models.guard import check_allowed


class AnthropicModel:
    def __init__(self, model: str, client: Any = None) -> None:
        """`client`: an `anthropic.Anthropic` to use instead of one built from the environment."""
        self.model = model
        self.name = f"anthropic:{model}"
        self._client = client

    def complete(self, request: Request) -> Reply:
        check_allowed(self.name)
        client = self._client or self._connect()
        import anthropic

        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        messages = [{"role": m.role, "content": m.content} for m in request.messages if m.role != "system"]
        extra: dict[str, Any] = {"system": system} if system else {}
        try:
            response = client.messages.create(
                model=self.model, max_tokens=request.max_tokens, messages=messages, **extra
            )
        except anthropic.AnthropicError as exc:
            raise ModelError(f"{self.name} failed: {exc}") from None
        text = "".join(getattr(block, "text", "") for block in response.content)
        return Reply(text=text, input_tokens=response.usage.input_tokens, output_tokens=response.usage.output_tokens)

    def _connect(self) -> Any:
        try:
            import anthropic
        except ImportError:
            raise ModelError(f"{self.name} needs the anthropic package: pip install 'memex-mcp[anthropic]'") from None
        if not os.environ.get("ANTHROPIC_API_KEY"):
            raise ModelError(f"{self.name} needs ANTHROPIC_API_KEY in the server's environment.")
        self._client = anthropic.Anthropic()
        return self._client

    def __repr__(self) -> str:
        return f"<AnthropicModel {self.model!r}>"
