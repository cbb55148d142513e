"""Reading session dirs for the viewer: which sessions there are, and each one's scope and agents.

What it reads, all written by others (it never writes, and never unpickles anything: a session dir
is written by its kernel, which may run anyone's code):

    <state>/sessions/<id>/checkpoint/history.jsonl   every execution (memex_mcp.runtime.checkpoint)
    <state>/sessions/<id>/checkpoint/manifest.json   the saved variables, when the scope feed is missing
    <state>/sessions/<id>/view/scope.json            the scope with previews (memex_mcp.runtime.feed)
    <state>/sessions/<id>/view/agents/<n>.json       one sub-agent each (memex_mcp.runtime.feed)
    <state>/sessions/<id>/view/replies.jsonl         what the model was sent (memex_mcp.server.replylog)
    <state>/scratchpads.json                         which principal owns which `sp-…` scratchpad
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from memex_mcp.server.session import EPHEMERAL, server_alive

Kind = Literal["named", "scratchpad", "unnamed"]

_NAME = re.compile(r"^[A-Za-z0-9._-]{1,120}$")


def session_kind(name: str) -> Kind:
    if name.startswith(EPHEMERAL):
        return "unnamed"
    return "scratchpad" if name.startswith("sp-") else "named"


def read_json(path: Path | None) -> Any:
    """The JSON in `path`, or None when it is missing or unreadable (being replaced, or damaged)."""
    if path is None:
        return None
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


#: Agent records read, by path, with the (mtime, size) they were read at: a poll reads only the
#: records that changed since.
_records: dict[Path, tuple[tuple[int, int], Any]] = {}


def read_record(path: Path | None) -> Any:
    """As `read_json`, for a file that is replaced whenever it changes."""
    if path is None:
        return None
    try:
        info = path.stat()
    except OSError:
        return None
    key = (info.st_mtime_ns, info.st_size)
    cached = _records.get(path)
    if cached is not None and cached[0] == key:
        return cached[1]
    value = read_json(path)
    if len(_records) > 10_000:
        _records.clear()
    _records[path] = (key, value)
    return value


def jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The whole lines of a JSON-lines file that is being appended to (a cut last line is skipped)."""
    try:
        with open(path, "rb") as file:
            for line in file:
                try:
                    item = json.loads(line)
                except ValueError:
                    continue
                if isinstance(item, dict):
                    yield item
    except OSError:
        return


def owners(state_dir: Path) -> dict[str, str]:
    """Scratchpad handle → the principal that owns it (empty when no HTTP server ever ran here)."""
    records = read_json(state_dir / "scratchpads.json")
    if not isinstance(records, dict):
        return {}
    return {h: str(r.get("principal")) for h, r in records.items() if isinstance(r, dict)}


def _locked_inodes() -> set[int]:
    """Inodes of files a process holds a lock on (Linux's /proc/locks): a named session's `.lock`
    among them means a server has it open. Read, never taken: taking it would disturb that server."""
    try:
        text = Path("/proc/locks").read_text()
    except OSError:
        return set()
    found = set()
    for line in text.splitlines():
        parts = line.split()
        device = next((p for p in parts if p.count(":") == 2), None)
        if device is not None:
            found.add(int(device.rsplit(":", 1)[1]))
    return found


@dataclass(frozen=True)
class Session:
    """One session dir."""

    id: str
    path: Path

    @property
    def kind(self) -> Kind:
        return session_kind(self.id)

    def file(self, *parts: str) -> Path | None:
        """A file of the session, as long as it really is inside it. Its kernel writes there and may
        be confined to it; a link it made to a file elsewhere is read as a missing file."""
        path = self.path
        for part in parts:
            path = path / part
            if part in ("", ".", "..") or "/" in part or path.is_symlink():
                return None
        return path

    def stamp(self) -> str:
        """Changes whenever anything the viewer shows of the session changes (an ETag)."""
        parts = []
        for rel in ("checkpoint/history.jsonl", "checkpoint/manifest.json", "view", "view/agents"):
            try:
                info = (self.path / rel).stat()
                parts.append(f"{info.st_mtime_ns:x}.{info.st_size:x}")
            except OSError:
                parts.append("-")
        for rel in ("view/scope.json", "view/replies.jsonl"):
            try:
                info = (self.path / rel).stat()
                parts.append(f"{info.st_mtime_ns:x}.{info.st_size:x}")
            except OSError:
                parts.append("-")
        return "-".join(parts)

    def agents(self) -> list[dict[str, Any]]:
        """Every sub-agent's record, in the order they started."""
        records = []
        folder = self.file("view", "agents")
        if folder is None:
            return []
        try:
            # The folder is known to be the session's own: only the entries themselves can be links.
            files = [e for e in os.scandir(folder) if e.name.endswith(".json") and not e.is_symlink()]
        except OSError:
            return []
        for item in files:
            record = read_record(Path(item.path))
            if isinstance(record, dict) and isinstance(record.get("id"), int):
                records.append(record)
        return sorted(records, key=lambda r: int(r["id"]))

    def agent(self, agent_id: int) -> dict[str, Any] | None:
        record = read_record(self.file("view", "agents", f"{agent_id}.json"))
        return record if isinstance(record, dict) else None

    def scope(self) -> dict[str, Any]:
        """The scope as last written by the kernel; from the checkpoint's manifest (names, types,
        sizes, no previews) for a session written before the kernel kept a feed."""
        feed = read_json(self.file("view", "scope.json"))
        if isinstance(feed, dict) and isinstance(feed.get("variables"), list):
            return {"source": "feed", "time": feed.get("time"), "variables": feed["variables"]}
        manifest = read_json(self.file("checkpoint", "manifest.json"))
        variables = []
        if isinstance(manifest, dict):
            for name, entry in (manifest.get("variables") or {}).items():
                if isinstance(entry, dict) and entry.get("format") != "module":
                    variables.append(
                        {"name": name, "type": entry.get("type"), "size_bytes": entry.get("size"), "summary": None}
                    )
        return {"source": "checkpoint", "time": None, "variables": variables}


def settled(record: dict[str, Any], live: bool) -> dict[str, Any]:
    """An agent's record as it stands: one still `running` in a session no server holds was ended
    with its kernel (killed before it could say so), and is shown as `lost`."""
    if live or record.get("status") != "running":
        return record
    return {**record, "status": "lost", "reason": "its kernel ended while it ran"}


def tree(records: list[dict[str, Any]], live: bool = True) -> list[dict[str, Any]]:
    """Agents as a tree (children under their parent), without their transcripts."""
    nodes: dict[Any, dict[str, Any]] = {}
    for r in records:
        node = {k: v for k, v in settled(r, live).items() if k != "transcript"}
        node["children"] = []
        nodes[r["id"]] = node
    roots: list[dict[str, Any]] = []
    for node in nodes.values():
        parent = nodes.get(node.get("parent"))
        (parent["children"] if parent is not None else roots).append(node)
    return roots


class Sessions:
    """The sessions of a state dir that one viewer may see.

    `principal`: over HTTP, only that principal's scratchpads; None (the `ui` command, run by the
    operator) sees every session. `open_handles`: the scratchpads whose kernels run now (HTTP)."""

    def __init__(self, state_dir: Path, principal: str | None = None, open_handles: frozenset[str] = frozenset()):
        self.root = state_dir / "sessions"
        self._state = state_dir
        self._principal = principal
        self._open = open_handles

    # One object serves one request: what it reads of the state dir is read once for all sessions.
    @functools.cached_property
    def _owners(self) -> dict[str, str]:
        return owners(self._state)

    @functools.cached_property
    def _locked(self) -> set[int]:
        return _locked_inodes()

    def _visible(self, name: str) -> bool:
        if not _NAME.match(name) or name.startswith("."):
            return name.startswith(EPHEMERAL) and self._principal is None
        if self._principal is None:
            return True
        return self._owners.get(name) == self._principal

    def find(self, session_id: str) -> Session | None:
        """The session, if it exists and this viewer may see it; None otherwise, alike."""
        if "/" in session_id or session_id in (".", "..") or not self._visible(session_id):
            return None
        path = self.root / session_id
        return Session(session_id, path) if path.is_dir() else None

    def all(self) -> list[Session]:
        try:
            names = sorted(p.name for p in self.root.iterdir() if p.is_dir())
        except OSError:
            return []
        return [Session(n, self.root / n) for n in names if self._visible(n)]

    def live(self, session: Session) -> bool:
        """Whether a server has the session open now."""
        if session.kind == "unnamed":
            return server_alive(session.id) is True
        if session.id in self._open:
            return True
        try:
            inode = (session.path / ".lock").stat().st_ino
        except OSError:
            return False
        return inode in self._locked
