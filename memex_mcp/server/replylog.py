"""What the model was sent for each execution, kept for the viewer (`memex-mcp ui`).

    <session dir>/view/replies.jsonl   one line per execute_code reply: the executions it reports
                                       on, the exact text sent, its images, when

The kernel keeps every execution's full output (`history`); the reply is a budgeted cut of it. This
file lets the viewer show the two side by side. The line is encoded and appended by one thread of
its own, in the order the replies were sent: the call's reply never waits for the disk.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mcp.types import CallToolResult, ImageContent, TextContent

from memex_mcp.server.outcome import CellResult, StillRunning

_log = logging.getLogger(__name__)
#: One thread, so lines keep the order of the replies; the interpreter finishes its queue at exit.
_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memex-replylog")

FILE = "view/replies.jsonl"


def numbers(result: CellResult) -> list[int]:
    """The executions a reply reports on: the one an earlier call left running, then its own."""
    sections = [result.earlier, result] if result.earlier is not None else [result]
    found: list[int] = []
    for section in sections:
        report = section.output.report
        number = report.execution_count if report is not None else None
        if isinstance(section.outcome, StillRunning):
            number = section.outcome.number
        if number is not None:
            found.append(number)
    return found


def record(session_dir: Path, result: CellResult, reply: CallToolResult) -> None:
    """Append the reply's line, soon; a failure to write is logged, never the call's."""
    text = "\n".join(c.text for c in reply.content if isinstance(c, TextContent))
    line = {
        "time": time.time(),
        "executions": numbers(result),
        "text": text,
        "images": sum(isinstance(c, ImageContent) for c in reply.content),
        "is_error": bool(reply.is_error),
        "running": isinstance(result.outcome, StillRunning),
    }
    _writer.submit(_append, session_dir / FILE, line)


def _append(path: Path, line: dict[str, object]) -> None:
    if not path.parent.parent.is_dir():
        return  # an unnamed session that closed since
    try:
        path.parent.mkdir(exist_ok=True)
        with open(path, "ab") as file:
            file.write(json.dumps(line).encode() + b"\n")
    except OSError as exc:
        _log.warning("could not record the reply for the viewer in %s: %s", path, exc)
