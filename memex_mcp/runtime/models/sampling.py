"""`sampling`: the MCP client's own model, asked through the server (MCP sampling).

Few clients support sampling (VS Code Copilot, goose, fast-agent; not Claude Desktop, Claude Code
or Cursor), and the 2026-07-28 revision of MCP deprecates it; `sampling_available()` tells.
"""

from __future__ import annotations

from memex_mcp.protocol import SamplingMessage, SamplingParams, SamplingResult
from memex_mcp.runtime import channel
from memex_mcp.runtime.models.base import ModelError, Reply, Request

__all__ = ["SamplingModel", "sampling_available"]

#: A client may ask its user to approve each request: that can take a while.
_TIMEOUT = 600.0


class SamplingModel:
    """Implements `base.Model` by sending each request over the kernel's channel to the server."""

    name = "sampling"
    #: The channel waits in 0.25 s slices and withdraws the request when its wait is stopped.
    interruptible = True

    def __init__(self, line: channel.Channel | None = None, timeout: float = _TIMEOUT) -> None:
        self._line = line
        self._timeout = timeout

    def complete(self, request: Request) -> Reply:
        """Blocks this thread until the client's model answers. System messages become its system prompt."""
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        params = SamplingParams(
            messages=[SamplingMessage(role=m.role, content=m.content) for m in request.messages if m.role != "system"],
            system=system or None,
            max_tokens=request.max_tokens,
        )
        line = self._line or channel.default()
        try:
            raw = line.call("sampling.create", params.model_dump(mode="json"), timeout=self._timeout)
        except channel.ChannelError as exc:
            raise ModelError(f"The sampling model cannot answer: {exc}") from None
        result = SamplingResult.model_validate(raw)
        return Reply(text=result.text, input_tokens=result.input_tokens, output_tokens=result.output_tokens)


def sampling_available(line: channel.Channel | None = None) -> bool:
    """Whether the MCP client declared sampling and this connection can carry it."""
    try:
        return bool((line or channel.default()).call("sampling.available", timeout=30))
    except channel.ChannelError:
        return False
