"""Native tool calling for the eval's agent loop, behind one interface (`ToolModel`).

Specs: `openai:<model>` (any server speaking OpenAI's chat completions with `tools`; the `openai`
package reads `OPENAI_API_KEY` and `OPENAI_BASE_URL`, so vLLM, Ollama and llama.cpp work),
`anthropic:<model>` (`ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL`), and `scripted:<policy>` (a
Python function; see `scripted`). The SDK packages and environment variables are the sub-agent
providers' (`memex_mcp.runtime.models`); `MEMEX_ALLOW_MODEL_REQUESTS=0` switches real requests off.

A provider is called from a worker thread and blocks until the model answers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from memex_mcp.runtime.models.base import ModelError
from memex_mcp.runtime.models.guard import check_allowed

#: Retries of a rate-limited or failed request (the SDKs back off between them): parallel task-runs
#: meet rate limits that a single agent does not.
_RETRIES = 6

__all__ = ["ChatMessage", "ModelError", "ToolCall", "ToolModel", "ToolReply", "ToolSpec", "resolve"]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    #: JSON Schema of the arguments object.
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]
    #: Set when the model's arguments were not a JSON object: the loop tells the model so.
    error: str | None = None


@dataclass(frozen=True)
class ChatMessage:
    """A provider-neutral message. `tool` messages answer the call `tool_call_id`."""

    role: Literal["system", "user", "assistant", "tool"]
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    is_error: bool = False


@dataclass(frozen=True)
class ToolReply:
    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0


class ToolModel(Protocol):
    #: As the records and the price table name it, e.g. "openai:gpt-4.1-mini".
    name: str

    def complete(self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], max_tokens: int) -> ToolReply:
        """The model's next message. Raises `ModelError` saying what to fix."""
        ...


def resolve(spec: str) -> ToolModel:
    """The model `spec` names, checked now (package, key, policy) so a run fails before its first task."""
    provider, _, name = spec.strip().partition(":")
    if provider == "scripted" and name:
        from memex_mcp.eval.scripted import policy

        return policy(name)
    if provider not in ("openai", "anthropic") or not name:
        raise ModelError(
            f"Unknown model {spec!r}. Use openai:<model> (also any OpenAI-compatible server via OPENAI_BASE_URL), "
            "anthropic:<model> or scripted:oracle."
        )
    try:
        __import__(provider)
    except ImportError:
        raise ModelError(f"{spec} needs the {provider} package: pip install 'memex-mcp[{provider}]'") from None
    if provider == "openai":
        if not os.environ.get("OPENAI_API_KEY") and not os.environ.get("OPENAI_BASE_URL"):
            raise ModelError(f"{spec} needs OPENAI_API_KEY (or OPENAI_BASE_URL for a local OpenAI-compatible server).")
        return OpenAIToolModel(name)
    if not os.environ.get("ANTHROPIC_API_KEY"):
        raise ModelError(f"{spec} needs ANTHROPIC_API_KEY in the environment.")
    return AnthropicToolModel(name)


def _arguments(raw: Any) -> tuple[dict[str, Any], str | None]:
    if isinstance(raw, dict):
        return raw, None
    try:
        value = json.loads(raw or "{}")
    except (TypeError, json.JSONDecodeError) as exc:
        return {}, f"the arguments were not valid JSON ({exc}); send a JSON object"
    if not isinstance(value, dict):
        return {}, "the arguments must be a JSON object of the tool's parameters"
    return value, None


class OpenAIToolModel:
    def __init__(self, model: str, client: Any = None) -> None:
        self.model = model
        self.name = f"openai:{model}"
        self._client = client
        self._limit = "max_tokens"

    def complete(self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], max_tokens: int) -> ToolReply:
        check_allowed(self.name)
        import openai

        if self._client is None:
            # Local servers need no key, but the client insists on one.
            self._client = openai.OpenAI(api_key=os.environ.get("OPENAI_API_KEY") or "unused", max_retries=_RETRIES)
        specs = [
            {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
            for t in tools
        ]
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [_openai_message(m) for m in messages],
            "tools": specs,
        }
        try:
            try:
                response = self._client.chat.completions.create(**request, **{self._limit: max_tokens})
            except openai.BadRequestError as exc:
                # OpenAI's reasoning models refuse `max_tokens`; many local servers know only it.
                if self._limit != "max_tokens" or "max_completion_tokens" not in str(exc):
                    raise
                self._limit = "max_completion_tokens"
                response = self._client.chat.completions.create(**request, **{self._limit: max_tokens})
        except openai.OpenAIError as exc:
            raise ModelError(f"{self.name} failed: {exc}") from None
        if not response.choices:
            raise ModelError(f"{self.name} answered without a choice.")
        message = response.choices[0].message
        calls = []
        for index, call in enumerate(message.tool_calls or (), 1):
            # Local servers' parsers return partial calls (no id, no function, no name): each becomes
            # a call the loop answers with what was wrong, never a crash.
            function = getattr(call, "function", None)
            name = str(getattr(function, "name", None) or "")
            arguments, error = _arguments(getattr(function, "arguments", None))
            if not name:
                error = "the tool call named no tool; call one of the tools by its name"
            calls.append(ToolCall(str(getattr(call, "id", None) or f"call_{index}"), name, arguments, error))
        usage = response.usage
        return ToolReply(
            text=message.content or "",
            tool_calls=calls,
            input_tokens=usage.prompt_tokens if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
        )


def _openai_message(m: ChatMessage) -> dict[str, Any]:
    if m.role == "tool":
        return {"role": "tool", "tool_call_id": m.tool_call_id, "content": m.text}
    if m.role == "assistant" and m.tool_calls:
        return {
            "role": "assistant",
            "content": m.text or None,
            "tool_calls": [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
                for c in m.tool_calls
            ],
        }
    return {"role": m.role, "content": m.text}


class AnthropicToolModel:
    def __init__(self, model: str, client: Any = None) -> None:
        self.model = model
        self.name = f"anthropic:{model}"
        self._client = client

    def complete(self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], max_tokens: int) -> ToolReply:
        check_allowed(self.name)
        import anthropic

        if self._client is None:
            self._client = anthropic.Anthropic(max_retries=_RETRIES)
        system = "\n\n".join(m.text for m in messages if m.role == "system")
        extra: dict[str, Any] = {"system": system} if system else {}
        if tools:
            extra["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters} for t in tools
            ]
        try:
            response = self._client.messages.create(
                model=self.model, max_tokens=max_tokens, messages=_anthropic_messages(messages), **extra
            )
        except anthropic.AnthropicError as exc:
            raise ModelError(f"{self.name} failed: {exc}") from None
        text = "".join(getattr(b, "text", "") for b in response.content if b.type == "text")
        calls = []
        for block in response.content:
            if block.type == "tool_use":
                arguments, error = _arguments(block.input)
                calls.append(ToolCall(block.id, block.name, arguments, error))
        usage = response.usage
        return ToolReply(text, calls, usage.input_tokens, usage.output_tokens)


def _anthropic_messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """Anthropic's turns: tool results are blocks of one user message, which must follow the
    assistant message that called them."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            continue
        if m.role == "tool":
            # An empty tool result is refused: say that it was empty.
            text = m.text or "(no output)"
            block = {"type": "tool_result", "tool_use_id": m.tool_call_id, "content": text, "is_error": m.is_error}
            if out and out[-1]["role"] == "user" and isinstance(out[-1]["content"], list):
                out[-1]["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
        elif m.role == "assistant":
            blocks: list[dict[str, Any]] = [{"type": "text", "text": m.text}] if m.text else []
            blocks += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in m.tool_calls]
            out.append({"role": "assistant", "content": blocks or [{"type": "text", "text": "(no text)"}]})
        else:
            out.append({"role": "user", "content": m.text})
    return out
