"""Long work: how soon a call waiting on a running execution replies once that execution ends.

A cell outlives `--reply-within`, so its call returns "still running"; the next call (empty code)
waits for it. The cell's last act is to print the wall-clock time; the client notes the time the
waiting call's reply arrives. Both clocks are this machine's, so the difference is the delay from
the cell's end to the reply: the kernel's idle message, the server's read, rendering and MCP.
"""

from __future__ import annotations

import time
from typing import Any

from mcp import Client
from mcp.types import TextContent

from benchmarks.common import settings, summary
from memex_mcp.server import build_server

#: The cell sleeps past the reply deadline, then prints when it ended.
CELL = "import time\ntime.sleep({seconds})\nprint('ended at', repr(time.time()))"


async def run(rounds: int = 20, reply_within: float = 1.0, seconds: float = 1.5) -> dict[str, Any]:
    delays: list[float] = []
    server = build_server(settings(reply_within=reply_within))
    async with Client(server, raise_exceptions=True) as client:
        for _ in range(rounds):
            first = await client.call_tool("execute_code", {"code": CELL.format(seconds=seconds)})
            assert "still running" in _text(first), _text(first)
            waited = await client.call_tool("execute_code", {"code": ""})
            arrived = time.time()
            ended = float(_text(waited).split("ended at ", 1)[1].split()[0])
            delays.append(arrived - ended)
    return {"rounds": rounds, "reply_within": reply_within, "seconds": seconds, **summary(delays)}


def _text(result: Any) -> str:
    return "".join(c.text for c in result.content if isinstance(c, TextContent))


def section(result: dict[str, Any], command: str, when: str) -> str:
    return "\n".join(
        [
            "## Long work: from a running execution's end to the waiting call's reply",
            "",
            f"`{command}`, {when}: {result['rounds']} cells of {result['seconds']:g} s in process, each past "
            f"`--reply-within {result['reply_within']:g}`; the next call (empty code) waits for the cell, whose "
            "last line is the time it ended. Milliseconds from that line to the reply's arrival at the client.",
            "",
            "| p50 | p95 | mean |",
            "|---:|---:|---:|",
            f"| {result['p50']:.2f} | {result['p95']:.2f} | {result['mean']:.2f} |",
            "",
            "The warm `print(1)` with long work in place is measured beside the commit before it in the "
            "warm round trip section above.",
        ]
    )
