"""MCP sampling: the kernel's `sampling` model asks this scratchpad's client for a completion.

The scratchpad remembers the MCP session of its client's latest tool call, so each scratchpad asks
its own client, however many clients one server has. A request is sent on the connection's own
stream, not tied to a tool call: an eager sub-agent keeps asking after `spawn_agent` returned.
That stream exists on 2025-11-25 connections only; 2026-07-28 deprecates sampling and has none.
"""

from __future__ import annotations

import warnings
from typing import Any

from mcp import types
from mcp.server.session import ServerSession
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from memex_mcp.protocol import SamplingParams, SamplingResult
from memex_mcp.server.channel import Handler
from memex_mcp.server.errors import MemexError

_CONFIGURE = (
    "Configure a model of your own instead: start memex-mcp with --agent-model openai:<model> "
    "(OPENAI_API_KEY, and OPENAI_BASE_URL for any OpenAI-compatible server) or anthropic:<model> "
    "(ANTHROPIC_API_KEY), or pass model='openai:<model>' to spawn_agent."
)


class SamplingUnavailable(MemexError):
    pass


class ClientSampling:
    """Completions from the MCP client's own model, for the kernel's `sampling.*` channel methods."""

    def __init__(self) -> None:
        self._session: ServerSession | None = None

    def seen(self, session: ServerSession) -> None:
        """Remember the session of the client's latest call (the first, and each one after)."""
        self._session = session

    def handlers(self) -> dict[str, Handler]:
        return {"sampling.available": self._available, "sampling.create": self._create}

    def unavailable_reason(self) -> str | None:
        """Why sampling cannot work with this client now, or None when it can."""
        session = self._session
        if session is None:
            return "No MCP client has called this server yet, so there is no client model to ask."
        client = _client_name(session)
        if session.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return (
                f"The MCP client ({client}) speaks MCP {session.protocol_version}, where sampling is "
                "deprecated and a server cannot send it requests."
            )
        if not session.check_client_capability(types.ClientCapabilities(sampling=types.SamplingCapability())):
            return f"The MCP client ({client}) does not support sampling (it did not declare the capability)."
        return None

    async def _available(self, params: dict[str, Any]) -> bool:
        return self.unavailable_reason() is None

    async def _create(self, params: dict[str, Any]) -> Any:
        request = SamplingParams.model_validate(params)
        return (await self.create(request)).model_dump(mode="json")

    async def create(self, request: SamplingParams) -> SamplingResult:
        """One completion; SamplingUnavailable says why not (no sampling, or the client refused)."""
        reason = self.unavailable_reason()
        if reason is not None:
            raise SamplingUnavailable(f"{reason} {_CONFIGURE}")
        assert self._session is not None
        messages = [
            types.SamplingMessage(role=m.role, content=types.TextContent(type="text", text=m.content))
            for m in request.messages
        ]
        # Deprecated as of 2026-07-28, which never gets here. The warning fires when the call is
        # made, not awaited: the filter is not held across an await, where other tasks would see it.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sent = self._session.create_message(messages, max_tokens=request.max_tokens, system_prompt=request.system)
        try:
            result = await sent
        except MCPError as exc:
            raise SamplingUnavailable(
                f"The MCP client ({_client_name(self._session)}) refused the sampling request: {exc}. {_CONFIGURE}"
            ) from None
        return _result(result)


def _result(result: types.CreateMessageResult) -> SamplingResult:
    content = result.content
    text = content.text if isinstance(content, types.TextContent) else ""
    usage = (result.meta or {}).get("usage")
    tokens = usage if isinstance(usage, dict) else {}
    return SamplingResult(
        text=text,
        model=result.model or None,
        input_tokens=_int(tokens.get("inputTokens", tokens.get("input_tokens"))),
        output_tokens=_int(tokens.get("outputTokens", tokens.get("output_tokens"))),
    )


def _int(value: object) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _client_name(session: ServerSession) -> str:
    params = session.client_params
    return params.client_info.name if params is not None else "unnamed client"
