"""Turns an execution into what the model reads: one text within the budget, then images."""

from __future__ import annotations

import base64

import anyio
from mcp.types import CallToolResult, ContentBlock, ImageContent, TextContent

from memex_mcp.server import images
from memex_mcp.server.clip import budget
from memex_mcp.server.outcome import CellResult, StillRunning
from memex_mcp.server.settings import Settings

#: The whole reply of a cell that printed nothing and whose last line has no value.
NO_OUTPUT = "(no output)"


async def render_execution(result: CellResult, settings: Settings) -> CallToolResult:
    """The reply: notes, then the output of the execution an earlier call left running (if this
    call waited for one), then this call's own; the budget is shared by the two."""
    sections = [result.earlier, result] if result.earlier is not None else [result]
    notes = "".join(f"[memex] {note}\n" for section in sections for note in section.notes)
    room = max((settings.output_limit - len(notes)) // len(sections), 200)
    text = notes + "\n".join(_section(section, room) for section in sections)
    pictures: list[ContentBlock] = []
    shown = [image for section in sections for image in section.output.images][: settings.max_images]
    dropped = sum(len(s.output.images) + s.output.images_dropped for s in sections) - len(shown)
    # The budget is in base64 characters, shared equally by the images of the reply.
    share = settings.image_budget * 3 // 4 // max(len(shown), 1)
    for image in shown:
        fitted = await anyio.to_thread.run_sync(images.fit, image, settings.image_max_side, share)
        if fitted is not None:
            data = base64.b64encode(fitted.data).decode()
            pictures.append(ImageContent(type="image", data=data, mime_type=fitted.mime))
    if hidden := dropped + len(shown) - len(pictures):
        text += f"\n[{hidden} more image(s) not returned; display fewer at a time.]"
    text = text.strip("\n")
    if not text.strip() and not pictures:
        text = NO_OUTPUT  # an empty reply reads like a call that never ran
    content: list[ContentBlock] = [TextContent(type="text", text=clean(text)), *pictures]
    return CallToolResult(content=content, is_error=result.is_error)


def _section(result: CellResult, room: int) -> str:
    """One execution's part of the reply, within `room` characters."""
    out = result.output
    report = out.report
    body = out.text
    if result.failed:
        error = report.error if report and report.error else out.raw_error
        body.append((error or "") + "\n")
    number = report.execution_count if report else None
    if isinstance(result.outcome, StillRunning):
        number = result.outcome.number
    where = f"_outputs[{number}]" if number is not None else None
    label = f"execution [{number}]" if number is not None else "the running execution"
    header = f"[memex] Output of {label} since the last reply:" if result.continued else ""
    ending = result.ending
    if result.continued and not isinstance(result.outcome, StillRunning):
        ending = f"[memex] {label[0].upper()}{label[1:]} has ended." + (f" {ending}" if ending else "")
    room = max(room - len(header) - len(ending or "") - 2, 200)
    shown = settle_lines(budget(body, room, where)).rstrip("\n")
    return "\n".join(part for part in (header, shown, ending) if part)


def clean(text: str) -> str:
    """Text that survives JSON: lone surrogates (from undecodable bytes) become U+FFFD."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def settle_lines(text: str) -> str:
    """Show each line as a terminal would: a progress bar redrawn with `\\r` keeps only its last state."""
    if "\r" not in text:
        return text
    lines = text.replace("\r\n", "\n").split("\n")
    return "\n".join(next((p for p in reversed(line.split("\r")) if p), "") for line in lines)
