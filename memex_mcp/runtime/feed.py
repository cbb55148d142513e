"""What the viewer (`memex-mcp ui`) reads of a kernel, written into its session dir as it changes.

    <session dir>/view/scope.json         the scope: each variable's name, type, size, summary and a
                                          preview (a table's first rows, a text's start, an image)
    <session dir>/view/agents/<n>.json    sub-agent n: status, usage, inputs, result, transcript

The scope: the checkpoint tells the feed which names it has just saved (new or changed), and they
are described later, when the kernel is idle: on its main thread (where no cell runs beside them, so
a DuckDB relation or connection a cell is using is never touched at the same time, and where each
preview can be stopped after `SECONDS`), once the main shell has had no request (nor the end of one) for `IDLE` seconds,
one variable per turn of the event loop. A request that arrives meanwhile waits for at most the one
variable being described. Requests that follow each other closer than `IDLE` leave the changes due;
those are described before the requests that begin `STALE` seconds or more after they were made,
`CATCH_UP` seconds' worth before each, so the viewer is never much further behind than that on a
busy kernel. Only due names are described: the others keep their entries.

An agent's record is rewritten as it starts, at the end of each turn and when it ends, in whichever
thread that happens: a turn waits on a model for far longer than the write takes.

Files are replaced atomically, so a reader never sees half of one. Writing never fails the kernel:
a full disk leaves the previous file.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import os
import reprlib
import threading
import time
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memex_mcp.runtime.cells.streams import ROUTE
from memex_mcp.runtime.deadline import Overrun, time_limit
from memex_mcp.runtime.scope import attr_or_none, describe, is_duckdb
from memex_mcp.text import shorten

if TYPE_CHECKING:
    from memex_mcp.runtime.agents.handle import AgentHandle

#: Rows and columns of a table's preview, and characters of one of its cells.
ROWS, COLUMNS, CELL = 10, 30, 80
#: Characters of a text's (or a repr's) preview.
TEXT = 4000
#: Longest side of an image's thumbnail, in pixels.
THUMB = 320
#: Seconds one preview may take (on the main thread, where a limit can stop it).
SECONDS = 1.0
#: Seconds without a request after which the kernel counts as idle and due names are described.
IDLE = 0.2
#: Seconds a change may wait for an idle kernel before it is described at the next pause.
STALE = 2.0
#: Seconds a request may be kept waiting at most by describing stale changes before it.
CATCH_UP = 0.05
#: Characters of one agent turn's output kept in its record (the whole is in the kernel).
TURN_OUTPUT = 200_000

# A repr that stops early: a list of ten million items must not be turned into one string first.
_repr = reprlib.Repr()
_repr.maxlevel, _repr.maxstring, _repr.maxother = 3, TEXT, TEXT
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxdict = 40


def view_dir(session_dir: str | Path) -> Path:
    return Path(session_dir) / "view"


def write_json(path: Path, value: Any) -> None:
    """Replace `path` with `value` as JSON, atomically; an error leaves the old file."""
    tmp = path.with_name(f"{path.name}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(value, default=str, ensure_ascii=True))
        os.replace(tmp, path)
    except (OSError, ValueError, TypeError):
        with contextlib.suppress(OSError):
            tmp.unlink()


class ScopeFeed:
    """`view/scope.json`, described when the kernel is idle from the names the checkpoint saved.

    `variables()` gives the scope as it is now; `busy()` tells whether the main shell is handling a
    request. `request_began()` must be called on the main thread before each request."""

    def __init__(
        self, session_dir: str | Path, variables: Callable[[], Mapping[str, Any]], busy: Callable[[], bool]
    ) -> None:
        self._path = view_dir(session_dir) / "scope.json"
        self._variables = variables
        self._busy = busy
        self._entries: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        #: Names to describe again, and when the oldest of them became due (None: nothing is due).
        self._due: set[str] = set()
        self._due_since: float | None = None
        #: The names of the pass under way, and whether the file needs writing at its end.
        self._todo: list[str] = []
        self._changed = False
        self._last_activity = time.monotonic()
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Whether a `_tick` is due to run (set on the loop's thread, once at a time).
        self._armed = False

    def request_began(self) -> None:
        """On a kernel whose requests never pause, what has waited `STALE` seconds is described
        before the next request begins (then the next pause may be hours away), for `CATCH_UP`
        seconds at most (and the one object then being described): the rest before the next."""
        self._last_activity = now = time.monotonic()
        if self._loop is None:
            with contextlib.suppress(RuntimeError):
                self._loop = asyncio.get_running_loop()
        since = self._due_since
        if since is not None and now - since >= STALE:
            while self._step() and time.monotonic() - now < CATCH_UP:
                pass

    def update(self, changed: set[str]) -> None:
        """The names in `changed` changed (or some name went): described once the kernel is idle.
        Any thread may call this."""
        with self._lock:
            self._due |= changed
            self._last_activity = time.monotonic()  # a long cell has just ended: idle counts from here
            if self._due_since is None:
                self._due_since = self._last_activity
            armed, self._armed = self._armed, True
        if armed or self._loop is None:
            return  # the timer that is set looks at `_last_activity` when it fires
        if threading.current_thread() is threading.main_thread():
            self._arm(IDLE)
        else:
            with contextlib.suppress(RuntimeError):  # a closed loop: the exit's flush writes it
                self._loop.call_soon_threadsafe(self._arm, IDLE)

    def flush(self) -> None:
        """Describe all that is due and write the file now (the kernel's exit calls this)."""
        while self._step():
            pass

    def _arm(self, seconds: float) -> None:
        assert self._loop is not None
        self._loop.call_later(max(seconds, 0.0), self._tick)

    def _tick(self) -> None:
        with self._lock:
            if self._due_since is None:
                self._armed = False
                return
        quiet = time.monotonic() - self._last_activity
        if self._busy() or quiet < IDLE:
            self._arm(IDLE - quiet if quiet < IDLE else IDLE)
            return
        if self._step():
            assert self._loop is not None
            self._loop.call_soon(self._tick)  # a request already waiting goes first
        else:
            with self._lock:
                self._armed = False  # done, or failed: the next change sets a timer again

    def _step(self) -> bool:
        """Describe one due variable (or write the file at the end of a pass); whether more is due.
        A failure says no: what is left is taken up at the next change."""
        token = ROUTE.set(_discard)  # what a __repr__ prints here is nobody's output
        try:
            return self._next()
        except (Exception, KeyboardInterrupt, Overrun):  # an interrupt meant for a cell, or a hostile object
            return False
        finally:
            ROUTE.reset(token)

    def _next(self) -> bool:
        current = {n: v for n, v in self._variables().items() if not isinstance(v, types.ModuleType)}
        if not self._todo:
            with self._lock:
                due, self._due = self._due, set()
            gone = self._entries.keys() - current.keys()
            for name in gone:
                del self._entries[name]
            self._todo = [n for n in current if n in due or n not in self._entries]
            self._changed = bool(gone or self._todo)
        while self._todo:
            name = self._todo.pop(0)
            if name in current:
                self._entries[name] = entry(name, current[name])
                break
        if self._todo:
            return True
        if self._changed:
            self._changed = False
            self._entries = {n: self._entries[n] for n in current if n in self._entries}
            write_json(self._path, {"time": time.time(), "variables": list(self._entries.values())})
        with self._lock:
            if self._due:
                return True
            self._due_since = None
            return False


def _discard(text: str) -> None:
    pass


def entry(name: str, value: Any) -> dict[str, Any]:
    """One variable as the viewer shows it; never raises."""
    described = describe(name, value, SECONDS)
    result: dict[str, Any] = described.model_dump(mode="json")
    try:
        with time_limit(SECONDS):  # on the main thread; beside it nothing can stop a preview
            result["preview"] = preview(value)
    except (Exception, Overrun) as exc:
        result["preview"] = {"kind": "text", "text": f"<no preview: {type(exc).__name__}>"}
    return result


def preview(value: Any) -> dict[str, Any] | None:
    """A table's first rows, a text's start, an image as a small PNG, else the repr's start."""
    if isinstance(value, str):
        return {"kind": "text", "text": value[:TEXT], "chars": len(value)}
    if (image := _image(value)) is not None:
        return {"kind": "image", "mime": "image/png", "data": base64.b64encode(image).decode()}
    if (table := _table(value)) is not None:
        return table
    if isinstance(value, types.FunctionType | type) or is_duckdb(value):
        # A relation's repr runs its query, on the connection the cells use: its summary says enough.
        return None
    return {"kind": "text", "text": shorten(_repr.repr(value), TEXT)}


def _table(value: Any) -> dict[str, Any] | None:
    """A pandas DataFrame's first rows (anything else with `.columns`, `.head()` and `.itertuples()`)."""
    columns, head = attr_or_none(value, "columns"), attr_or_none(value, "head")
    if columns is None or not callable(head) or is_duckdb(value):
        return None
    first = head(ROWS)
    names = [shorten(str(c), CELL) for c in list(columns)[:COLUMNS]]
    rows = [
        [shorten(str(index), CELL), *(shorten(str(v), CELL) for v in row[:COLUMNS])]
        for index, *row in first.itertuples(index=True, name=None)
    ]
    shape = attr_or_none(value, "shape")
    return {"kind": "table", "columns": names, "rows": rows, "shape": list(shape) if isinstance(shape, tuple) else None}


def _image(value: Any) -> bytes | None:
    """PNG bytes of a thumbnail of a PIL image or a matplotlib figure; None for anything else."""
    module = type(value).__module__
    if module.startswith("PIL."):
        picture = value.copy()
    elif module.startswith("matplotlib.figure") and hasattr(value, "savefig"):
        from PIL import Image

        buffer = io.BytesIO()
        value.savefig(buffer, format="png", dpi=60)
        picture = Image.open(io.BytesIO(buffer.getvalue()))
    else:
        return None
    picture.thumbnail((THUMB, THUMB))
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


class AgentLog:
    """`view/agents/<n>.json`, one per sub-agent, rewritten as it changes."""

    def __init__(self, session_dir: str | Path) -> None:
        self._root = view_dir(session_dir) / "agents"
        self._lock = threading.Lock()

    def write(self, handle: AgentHandle) -> None:
        record = agent_record(handle)
        with self._lock:
            write_json(self._root / f"{handle.serial}.json", record)


def agent_record(handle: AgentHandle) -> dict[str, Any]:
    usage = handle.usage
    parent = handle.parent
    return {
        "id": handle.serial,
        "name": handle.name,
        "parent": parent.serial if parent is not None else None,
        "depth": handle.depth,
        "task": handle.task,
        "inputs": list(handle.inputs),
        "model": handle.model_name,
        "status": handle.status,
        "reason": handle.reason,
        "turns": len(handle.transcript),
        "max_turns": handle.max_turns,
        "usage": {
            "model_calls": usage.model_calls,
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "wall_seconds": round(usage.wall_seconds, 3),
        },
        "started": handle.started_at,
        "result": _result(handle),
        "transcript": [
            {
                "number": t.number,
                "text": t.text,
                "code": t.code,
                "output": t.output[:TURN_OUTPUT],
                "output_chars": len(t.output),
            }
            for t in list(handle.transcript)
        ],
    }


def _result(handle: AgentHandle) -> str | None:
    if handle.status != "done":
        return None
    try:
        return shorten(repr(handle._value), TEXT)
    except Exception as exc:
        return f"<repr failed: {type(exc).__name__}>"
