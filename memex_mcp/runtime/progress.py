"""Progress of long waits in a cell (indexing, sub-agents), reported to the client by the server.

Call it from the cell's own thread: the message belongs to the execution that is waiting.
The server turns it into an MCP progress notification when the client asked for them; it never
becomes output.
"""

from __future__ import annotations

from memex_mcp.protocol import PROGRESS_MIME, Progress


def report_progress(progress: float, total: float | None = None, message: str = "") -> None:
    from IPython.display import publish_display_data

    progress_data = Progress(progress=progress, total=total, message=message).model_dump()
    publish_display_data({PROGRESS_MIME: progress_data})  # type: ignore[no-untyped-call]
