"""A session's executions for the viewer: code, full output, and what the model was sent of it.

The kernel appends each execution to `checkpoint/history.jsonl` (its output inline, or the name of
the file under the session dir that holds a big one); the server appends each reply it sent to
`view/replies.jsonl`. Both are only ever appended to, so what was read is kept, keyed by the
file's size, and only a file that changed is read again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memex_mcp.ui.reading import Session, jsonl

#: Characters of one output the history API returns; the rest is at its `/output` route.
OUTPUT_CHARS = 50_000

#: The line memex_mcp.text.marker puts where a reply was cut.
CUT = re.compile(r"^\[… [\d,]+ characters cut here;.*…\]$", re.MULTILINE)


@dataclass
class _Cached:
    size: int = -1
    mtime: int = -1
    items: list[dict[str, Any]] = field(default_factory=list)


_cache: dict[Path, _Cached] = {}


def _lines(path: Path | None) -> list[dict[str, Any]]:
    if path is None:
        return []
    try:
        info = path.stat()
    except OSError:
        return []
    cached = _cache.get(path)
    if cached is None or (cached.size, cached.mtime) != (info.st_size, info.st_mtime_ns):
        cached = _cache[path] = _Cached(info.st_size, info.st_mtime_ns, list(jsonl(path)))
        if len(_cache) > 256:  # a viewer left open for weeks on many sessions
            _cache.pop(next(iter(_cache)))
    return cached.items


def executions(session: Session) -> list[dict[str, Any]]:
    """The history's lines, one per execution, in order (a restored kernel's later lines win)."""
    by_number: dict[int, dict[str, Any]] = {}
    for line in _lines(session.file("checkpoint", "history.jsonl")):
        if isinstance(line.get("number"), int):
            by_number[line["number"]] = line
    return [by_number[n] for n in sorted(by_number)]


def replies(session: Session) -> dict[int, list[dict[str, Any]]]:
    """Execution number → the replies that reported on it, in the order they were sent."""
    found: dict[int, list[dict[str, Any]]] = {}
    for line in _lines(session.file("view", "replies.jsonl")):
        for number in line.get("executions") or ():
            if isinstance(number, int):
                found.setdefault(number, []).append(line)
    return found


def output_chars(line: dict[str, Any]) -> int:
    if isinstance(line.get("output"), str):
        return len(line["output"])
    chars = line.get("output_chars")
    return chars if isinstance(chars, int) else 0


def output_file(session: Session, line: dict[str, Any]) -> Path | None:
    """The file holding a big output, if it is inside the session dir."""
    name = line.get("output_file")
    if not isinstance(name, str):
        return None
    path = session.file(*name.split("/"))
    return path if path is not None and path.is_file() else None


def full_output(session: Session, line: dict[str, Any], chars: int | None = None) -> str:
    """The execution's output (its first `chars` characters, if given)."""
    if isinstance(line.get("output"), str):
        text: str = line["output"]
        return text if chars is None else text[:chars]
    path = output_file(session, line)
    if path is None:
        return ""
    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as file:
            return file.read() if chars is None else file.read(chars)
    except OSError as exc:
        return f"[the output's file {line.get('output_file')} cannot be read: {exc.strerror}]"


def page(session: Session, before: int | None, limit: int) -> dict[str, Any]:
    """Up to `limit` executions numbered below `before` (all when None), newest first."""
    lines = executions(session)
    sent = replies(session)
    chosen = [line for line in lines if before is None or line["number"] < before][-limit:]
    items = []
    for line in reversed(chosen):
        number = line["number"]
        text = full_output(session, line, OUTPUT_CHARS)
        total = output_chars(line)
        items.append(
            {
                "number": number,
                "code": line.get("code", ""),
                "output": text,
                "output_chars": total,
                "output_complete": len(text) >= total,
                "failed": bool(line.get("failed")),
                "seconds": line.get("seconds"),
                "sent": [
                    {
                        "text": r.get("text", ""),
                        "chars": len(r.get("text", "")),
                        "cut": bool(CUT.search(r.get("text", ""))),
                        "time": r.get("time"),
                        "images": r.get("images", 0),
                        "running": bool(r.get("running")),
                        "is_error": bool(r.get("is_error")),
                    }
                    for r in sent.get(number, [])
                ],
            }
        )
    return {"total": len(lines), "executions": items, "more": bool(chosen) and chosen[0] is not lines[0]}


def find(session: Session, number: int) -> dict[str, Any] | None:
    return next((line for line in executions(session) if line["number"] == number), None)


def totals(session: Session, agents: list[dict[str, Any]]) -> dict[str, Any]:
    """Characters the model was sent against characters kept in the kernel, and agents' usage."""
    lines = executions(session)
    sent = _lines(session.file("view", "replies.jsonl"))
    usage = [a.get("usage") or {} for a in agents]
    return {
        "executions": len(lines),
        "failed": sum(bool(line.get("failed")) for line in lines),
        "kept_chars": sum(output_chars(line) for line in lines),
        "sent_chars": sum(len(r.get("text", "")) for r in sent),
        "replies": len(sent),
        "agents": len(agents),
        "agents_running": sum(a.get("status") == "running" for a in agents),
        "agent_input_tokens": sum(int(u.get("input_tokens", 0)) for u in usage),
        "agent_output_tokens": sum(int(u.get("output_tokens", 0)) for u in usage),
    }
