"""Turns an execution into what the model reads: one text within the budget, then images."""

from __future__ import annotations

import base64

import anyio
from mcp.types import CallToolResult, ContentBlock, ImageContent, TextContent

from memex_mcp.server import images
from memex_mcp.server.images import MAX_IMAGE_BYTES
from memex_mcp.server.scratchpad import Execution
from memex_mcp.server.settings import Settings

#: How far from the cut point a line break is looked for, so cuts fall between lines.
_SNAP = 200


async def render_execution(result: Execution, settings: Settings) -> CallToolResult:
    out = result.output
    report = out.report
    body = out.text
    if result.status == "error":
        error = report.error if report and report.error else out.raw_error
        body += (error or "") + "\n"
    where = f"_outputs[{report.execution_count}]" if report else None
    notes = "".join(f"[memex] {note}\n" for note in result.notes)
    ending = f"\n{result.ending}" if result.ending else ""
    room = max(settings.output_limit - len(notes) - len(ending), 200)
    text = notes + budget(body, room, where).rstrip("\n") + ending
    pictures: list[ContentBlock] = []
    for image in out.images[: settings.max_images]:
        fitted = await anyio.to_thread.run_sync(images.fit, image, settings.image_max_side)
        if len(fitted.data) <= MAX_IMAGE_BYTES:
            data = base64.b64encode(fitted.data).decode()
            pictures.append(ImageContent(type="image", data=data, mime_type=fitted.mime))
    if hidden := len(out.images) - len(pictures):
        text += f"\n[{hidden} more image(s) not returned; display fewer at a time.]"
    content: list[ContentBlock] = [TextContent(type="text", text=clean(text.strip("\n"))), *pictures]
    return CallToolResult(content=content, is_error=result.is_error)


def budget(text: str, limit: int, where: str | None) -> str:
    """Keep the head and the tail of `text` within `limit` characters, with one marker line between."""
    if len(text) <= limit:
        return text
    place = f"the full output is in {where}" if where else "the full output was not kept"
    marker = "[… {cut:,} characters cut here; " + place + " …]\n"
    room = max(limit - len(marker.format(cut=len(text))) - 1, 0)
    head_end = _snap(text, room * 3 // 5, backward=True)
    tail_start = _snap(text, len(text) - (room - head_end), backward=False)
    head = text[:head_end] if text[:head_end].endswith("\n") or not head_end else text[:head_end] + "\n"
    return head + marker.format(cut=tail_start - head_end) + text[tail_start:]


def _snap(text: str, index: int, backward: bool) -> int:
    """Move `index` to just after a nearby line break, staying inside the budget."""
    if backward:
        newline = text.rfind("\n", max(index - _SNAP, 0), index)
        return newline + 1 if newline >= 0 else index
    newline = text.find("\n", index, index + _SNAP)
    return newline + 1 if newline >= 0 else index


def clean(text: str) -> str:
    """Text that survives JSON: lone surrogates (from undecodable bytes) become U+FFFD."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
