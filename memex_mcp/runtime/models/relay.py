"""Providers for a confined kernel: it has no network and no API keys, so the server makes its model
calls (`memex_mcp.server.relay`) and only the answers cross the channel.

The server marks such a kernel with `memex_mcp.protocol.RELAY_ENV` in its environment.
"""

from __future__ import annotations

import os

from memex_mcp.protocol import RELAY_ENV, ModelCall, ModelMessage, SamplingResult
from memex_mcp.runtime import channel
from memex_mcp.runtime.models.base import ModelError, Reply, Request

#: A provider may take minutes on a long answer.
_TIMEOUT = 600.0


def relayed() -> bool:
    """Whether this kernel's model calls go through the server."""
    return os.environ.get(RELAY_ENV) == "1"


def configured() -> str | None:
    """The provider `auto` stands for in the server's environment, or None."""
    try:
        spec = channel.default().call("model.configured", timeout=30)
    except channel.ChannelError as exc:
        raise ModelError(f"The server could not say which model to use: {exc}") from None
    return spec if isinstance(spec, str) else None


class RelayModel:
    """Implements `base.Model` by asking the server to call the provider."""

    #: The channel waits in 0.25 s slices and withdraws the request when its wait is stopped.
    interruptible = True

    def __init__(self, spec: str) -> None:
        self.name = spec

    @classmethod
    def checked(cls, spec: str) -> RelayModel:
        """The model, once the server has said it can call it (package and key present)."""
        try:
            channel.default().call("model.check", {"spec": spec}, timeout=30)
        except channel.ChannelError as exc:
            raise ModelError(str(exc)) from None
        return cls(spec)

    def complete(self, request: Request) -> Reply:
        call = ModelCall(
            spec=self.name,
            messages=[ModelMessage(role=m.role, content=m.content) for m in request.messages],
            max_tokens=request.max_tokens,
        )
        try:
            raw = channel.default().call("model.complete", call.model_dump(mode="json"), timeout=_TIMEOUT)
        except channel.ChannelError as exc:
            raise ModelError(str(exc)) from None
        result = SamplingResult.model_validate(raw)
        return Reply(text=result.text, input_tokens=result.input_tokens, output_tokens=result.output_tokens)

    def __repr__(self) -> str:
        return f"<RelayModel {self.name!r}>"
