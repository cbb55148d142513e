"""Turns an execution into what the model reads: one text within the budget, then images."""

from __future__ import annotations

import base64

import anyio
from mcp.types import CallToolResult, ContentBlock, ImageContent, TextContent

from memex_mcp.server import images
from memex_mcp.server.clip import budget
from memex_mcp.server.outcome import CellResult
from memex_mcp.server.settings import Settings

#: The whole reply of a cell that printed nothing and whose last line has no value.
NO_OUTPUT = "(no output)"


async def render_execution(result: CellResult, settings: Settings) -> CallToolResult:
    out = result.output
    report = out.report
    body = out.text
    if result.failed:
        error = report.error if report and report.error else out.raw_error
        body.append((error or "") + "\n")
    where = f"_outputs[{report.execution_count}]" if report else None
    notes = "".join(f"[memex] {note}\n" for note in result.notes)
    ending = f"\n{result.ending}" if result.ending else ""
    room = max(settings.output_limit - len(notes) - len(ending), 200)
    text = notes + settle_lines(budget(body, room, where)).rstrip("\n") + ending
    pictures: list[ContentBlock] = []
    # The budget is in base64 characters, shared equally by the images of the reply.
    share = settings.image_budget * 3 // 4 // max(len(out.images), 1)
    for image in out.images:
        fitted = await anyio.to_thread.run_sync(images.fit, image, settings.image_max_side, share)
        if fitted is not None:
            data = base64.b64encode(fitted.data).decode()
            pictures.append(ImageContent(type="image", data=data, mime_type=fitted.mime))
    if hidden := out.images_dropped + len(out.images) - len(pictures):
        text += f"\n[{hidden} more image(s) not returned; display fewer at a time.]"
    text = text.strip("\n")
    if not text.strip() and not pictures:
        text = NO_OUTPUT  # an empty reply reads like a call that never ran
    content: list[ContentBlock] = [TextContent(type="text", text=clean(text)), *pictures]
    return CallToolResult(content=content, is_error=result.is_error)


def clean(text: str) -> str:
    """Text that survives JSON: lone surrogates (from undecodable bytes) become U+FFFD."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def settle_lines(text: str) -> str:
    """Show each line as a terminal would: a progress bar redrawn with `\\r` keeps only its last state."""
    if "\r" not in text:
        return text
    lines = text.replace("\r\n", "\n").split("\n")
    return "\n".join(next((p for p in reversed(line.split("\r")) if p), "") for line in lines)
