"""The server's end of `memex_mcp.runtime.models.relay`: model calls made for confined kernels.

The provider runs here, with the server's network and keys; a kernel names only the model and
gets only the answer. A blocking provider call runs in a worker thread.
"""

from __future__ import annotations

from typing import Any

import anyio

from memex_mcp.protocol import ModelCall, SamplingResult
from memex_mcp.runtime.models import Message, ModelError, Request, configured, provider_model
from memex_mcp.server.channel import Handler
from memex_mcp.server.errors import MemexError


def handlers() -> dict[str, Handler]:
    return {"model.check": _check, "model.configured": _configured, "model.complete": _complete}


async def _check(params: dict[str, Any]) -> None:
    try:
        provider_model(str(params.get("spec", "")))
    except ModelError as exc:
        raise MemexError(str(exc)) from None


async def _configured(params: dict[str, Any]) -> str | None:
    return configured("auto")


async def _complete(params: dict[str, Any]) -> Any:
    call = ModelCall.model_validate(params)
    try:
        model = provider_model(call.spec)
        request = Request([Message(m.role, m.content) for m in call.messages], max_tokens=call.max_tokens)
        reply = await anyio.to_thread.run_sync(model.complete, request, abandon_on_cancel=True)
    except ModelError as exc:
        raise MemexError(str(exc)) from None
    return SamplingResult(
        text=reply.text, input_tokens=reply.input_tokens, output_tokens=reply.output_tokens
    ).model_dump(mode="json")
