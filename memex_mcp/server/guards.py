"""What every tool call may take in and give back, checked in one place for all tools.

The SDK validates a call's arguments against a model built from the tool function's signature,
and that model ignores keys it does not know: `submit({"answer": 42})` would run as `submit()`.
`ToolCallGuard`, an MCP server middleware, refuses such a call with a tool error that names the
arguments the tool takes, and keeps the text of every tool reply within the output limit.
"""

from __future__ import annotations

from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerMiddleware, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, TextContent

from memex_mcp.text import keep_ends


class ToolCallGuard(ServerMiddleware[Any]):
    def __init__(self, server: MCPServer[Any], output_limit: int) -> None:
        self._server = server
        self._limit = output_limit

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method != "tools/call" or not ctx.params:
            return await call_next(ctx)
        refusal = await self._unknown_arguments(ctx.params.get("name"), ctx.params.get("arguments"))
        if refusal is not None:
            # Answered here, the tool never runs; the reply is a plain tool error like the SDK's own.
            return refusal.model_dump(by_alias=True, mode="json", exclude_none=True)
        result = await call_next(ctx)
        return within(result, self._limit) if isinstance(result, dict) else result

    async def _unknown_arguments(self, name: Any, arguments: Any) -> CallToolResult | None:
        if not isinstance(arguments, dict) or not arguments:
            return None
        schema = next((t.input_schema for t in await self._server.list_tools() if t.name == name), None)
        if schema is None or schema.get("additionalProperties", False) is not False:
            return None  # an unknown tool is the SDK's to report
        properties: dict[str, Any] = schema.get("properties", {})
        unknown = sorted(set(arguments) - set(properties))
        if not unknown:
            return None
        listed = "; ".join(
            f"`{key}` ({spec['description'].rstrip('.')})" if spec.get("description") else f"`{key}`"
            for key, spec in properties.items()
        )
        plural = "s" if len(unknown) > 1 else ""
        text = (
            f"{name} has no argument{plural} {', '.join(repr(k) for k in unknown)}; nothing was done. "
            f"Its arguments are {listed}. Call it again with those names."
        )
        return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


def within(result: dict[str, Any], limit: int) -> dict[str, Any]:
    """A tool result (in its wire form) with each text longer than `limit` cut to its head and tail."""
    content = result.get("content")
    if not isinstance(content, list) or all(_fits(block, limit) for block in content):
        return result
    return {
        **result,
        "content": [
            block if _fits(block, limit) else {**block, "text": keep_ends(block["text"], limit, None)}
            for block in content
        ],
    }


def _fits(block: Any, limit: int) -> bool:
    return not (
        isinstance(block, dict)
        and block.get("type") == "text"
        and isinstance(block.get("text"), str)
        and len(block["text"]) > limit
    )
