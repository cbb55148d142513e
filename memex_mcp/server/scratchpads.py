"""Which scratchpad a tool call works in.

Over stdio there is one client and one scratchpad. Over HTTP there are many, each named by a
handle the server mints (`sp-…`) and bound to the principal that made it:

- a call that passes `scratchpad=<handle>` works in that one, if its principal owns it; any other
  handle, foreign or never made, gets the same "no such scratchpad" error;
- otherwise a call in an MCP session (2025-11-25, `Mcp-Session-Id`) works in the session's own;
  a new session continues its principal's most recent scratchpad that nobody is using (after a
  server restart, say), or else gets a new one;
- otherwise (2026-07-28, no protocol session) a call works in its principal's default scratchpad.

Every scratchpad is a named session directory, `sessions/<handle>`, so its checkpoint survives the
kernel being stopped after `idle_timeout` without calls and the server itself restarting. Who owns
which handle is kept in `<state dir>/scratchpads.json`, outside every kernel's reach.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from pydantic import BaseModel, TypeAdapter, ValidationError

from memex_mcp.server.downstream import Downstream
from memex_mcp.server.errors import ToolInputError
from memex_mcp.server.lifecycle import Lifecycle
from memex_mcp.server.scratchpad import Scratchpad
from memex_mcp.server.session import SessionDir
from memex_mcp.server.settings import Settings

_log = logging.getLogger("memex_mcp.sessions")


@dataclass
class Use:
    """A scratchpad lent to one tool call."""

    pad: Scratchpad
    #: Its handle; None over stdio, where there is only one.
    handle: str | None
    #: Said once, in the first result that works in it: where it came from.
    note: str | None = None


class One:
    """stdio: the one scratchpad."""

    def __init__(self, pad: Scratchpad) -> None:
        self.pad = pad

    @contextlib.asynccontextmanager
    async def use(self, principal: str | None, session_id: str | None, handle: str | None) -> AsyncIterator[Use]:
        yield Use(self.pad, None)


class _Record(BaseModel):
    principal: str
    created: float
    last_used: float
    #: The principal's scratchpad for calls that name none and have no MCP session.
    default: bool = False


_RECORDS = TypeAdapter(dict[str, _Record])


#: How long a call's `last_used` may wait to be written: calls within it share one write of the
#: whole file, which would otherwise be rewritten on every call.
_TOUCH_DELAY = 1.0


class _Index:
    """Handles and their owners, on disk: read at start, written at once when a handle is made,
    replaced atomically (a few hundred bytes per scratchpad). `last_used` is written at most once
    per `_TOUCH_DELAY`; a server killed meanwhile loses only that second's times."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._pending: asyncio.TimerHandle | None = None
        try:
            self.records = _RECORDS.validate_json(path.read_bytes())
        except FileNotFoundError:
            self.records = {}
        except (OSError, ValidationError) as exc:
            # Unreadable: start empty rather than refuse to serve; the session dirs are still there.
            _log.error("ignoring unreadable %s (%s); earlier scratchpads cannot be reopened by handle", path, exc)
            self.records = {}

    def touch(self, handle: str) -> None:
        if (record := self.records.get(handle)) is None:
            return
        record.last_used = time.time()
        if self._pending is None:
            self._pending = asyncio.get_running_loop().call_later(_TOUCH_DELAY, self.save)

    def save(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        tmp = self._path.with_suffix(".tmp")
        tmp.write_bytes(_RECORDS.dump_json(self.records))
        os.replace(tmp, self._path)

    def owned(self, handle: str, principal: str) -> _Record | None:
        record = self.records.get(handle)
        return record if record is not None and record.principal == principal else None

    def default(self, principal: str) -> str | None:
        return next((h for h, r in self.records.items() if r.principal == principal and r.default), None)

    def most_recent(self, principal: str, besides: set[str]) -> str | None:
        mine = [(r.last_used, h) for h, r in self.records.items() if r.principal == principal and h not in besides]
        return max(mine)[1] if mine else None


@dataclass
class _Open:
    handle: str
    principal: str
    pad: Scratchpad
    last_used: float = field(default_factory=time.monotonic)
    #: Calls working in it now: it is never stopped under one.
    calls: int = 0
    note: str | None = None


def no_such(handle: str) -> str:
    return (
        f"There is no scratchpad {handle!r} for you; nothing was run. Leave `scratchpad` out to work in "
        "your own, or pass a handle that a result of yours named."
    )


class Many:
    """HTTP: a scratchpad per client (see the module docstring), each opened on its first call."""

    def __init__(self, settings: Settings, lifecycle: Lifecycle) -> None:
        self._settings = settings
        self._lifecycle = lifecycle
        self._index = _Index(settings.state_dir / "scratchpads.json")
        self._open: dict[str, _Open] = {}
        #: MCP session id → handle, and when the session last called.
        self._sessions: dict[str, tuple[str, float]] = {}
        #: Handles whose kernel was stopped for being idle: their return says so.
        self._idled: set[str] = set()
        #: Handles minted by this server: any other one opened was made before a restart.
        self._minted: set[str] = set()
        #: Idle scratchpads whose kernels are stopping.
        self._stopping: dict[str, asyncio.Future[None]] = {}
        self._lock = asyncio.Lock()
        self._reaper: asyncio.Task[None] | None = None
        #: The operator's `--mcp-config` servers, one set for all scratchpads: each call's result goes
        #: back only to the kernel that made it.
        self._downstream = Downstream(settings.mcp_config)

    async def __aenter__(self) -> Many:
        self._downstream.start(self._lifecycle)
        self._reaper = asyncio.ensure_future(self._reap_idle())
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        try:
            await asyncio.gather(
                *self._stopping.values(), *(self._close(h) for h in list(self._open)), return_exceptions=True
            )
        finally:
            self._index.save()
            await self._downstream.close()

    def pads(self) -> dict[str, Scratchpad]:
        return {h: o.pad for h, o in self._open.items()}

    @contextlib.asynccontextmanager
    async def use(self, principal: str | None, session_id: str | None, handle: str | None) -> AsyncIterator[Use]:
        assert principal is not None, "HTTP calls are authenticated"
        async with self._lock:
            entry = await self._entry(principal, session_id, handle)
            entry.calls += 1
        note, entry.note = entry.note, None
        try:
            yield Use(entry.pad, entry.handle, note)
        finally:
            entry.calls -= 1
            entry.last_used = time.monotonic()
            self._index.touch(entry.handle)

    async def _entry(self, principal: str, session_id: str | None, handle: str | None) -> _Open:
        if handle is not None:
            if self._index.owned(handle, principal) is None:
                raise ToolInputError(no_such(handle))
            return await self._opened(handle, principal)
        if session_id is not None:
            bound = self._sessions.get(session_id)
            if bound is not None:
                self._sessions[session_id] = (bound[0], time.monotonic())
                return await self._opened(bound[0], principal)
            resumed = self._index.most_recent(principal, besides=set(self._open))
            chosen = resumed or self._mint(principal)
            entry = await self._opened(chosen, principal)
            self._sessions[session_id] = (chosen, time.monotonic())
            if resumed is not None:
                continues = (
                    f"This session continues scratchpad {chosen}, your most recent one, with its variables "
                    "as of its last checkpoint."
                )
                # Said beside how it came back (restored after being idle or a restart), not instead.
                entry.note = f"{continues} {entry.note}" if entry.note else continues
            return entry
        default = self._index.default(principal) or self._mint(principal, default=True)
        return await self._opened(default, principal)

    def _mint(self, principal: str, default: bool = False) -> str:
        handle = f"sp-{secrets.token_hex(8)}"
        now = time.time()
        self._index.records[handle] = _Record(principal=principal, created=now, last_used=now, default=default)
        self._minted.add(handle)
        self._index.save()
        _log.info("scratchpad created", extra={"event": "created", "scratchpad": handle, "principal": principal})
        return handle

    async def _opened(self, handle: str, principal: str) -> _Open:
        if (stopping := self._stopping.get(handle)) is not None:
            # Its session directory is held until its kernel has stopped and written its checkpoint.
            await asyncio.shield(stopping)
        entry = self._open.get(handle)
        if entry is not None:
            return entry
        if len(self._open) >= self._settings.max_sessions:
            _log.warning("scratchpad limit reached", extra={"event": "limit", "principal": principal})
            raise ToolInputError(
                f"The server already runs its limit of {self._settings.max_sessions} scratchpads; nothing was run. "
                "Try again in a few minutes (idle ones are stopped), or ask the operator to raise --max-sessions."
            )
        settings = self._settings.model_copy(update={"session": handle})
        session = SessionDir(settings, self._lifecycle)
        workdir = session.path / "files"
        workdir.mkdir(exist_ok=True)
        pad = Scratchpad(settings, workdir, session=session, lifecycle=self._lifecycle, downstream=self._downstream)
        await pad.__aenter__()
        entry = self._open[handle] = _Open(handle, principal, pad)
        if handle in self._idled:
            self._idled.discard(handle)
            entry.note = (
                f"Scratchpad {handle} had been stopped after {self._settings.idle_timeout:g} s without calls "
                "and was restored from its checkpoint."
            )
            event = "restored"
        elif handle not in self._minted:
            entry.note = f"Scratchpad {handle} was restored from its checkpoint after the server restarted."
            event = "restored"
        else:
            event = "opened"
        _log.info("scratchpad %s", event, extra={"event": event, "scratchpad": handle, "principal": principal})
        return entry

    async def _close(self, handle: str) -> None:
        entry = self._open.pop(handle)
        await entry.pad.__aexit__(None, None, None)

    async def _reap_idle(self) -> None:
        """Stop the kernels of scratchpads idle for `idle_timeout` (their checkpoint is written when the
        kernel shuts down), and forget sessions idle for twice as long. Kernels stop in the
        background, so calls to other scratchpads do not wait for them; a call that comes back to
        one while it stops waits for that (see `_opened`)."""
        idle = self._settings.idle_timeout
        while True:
            await asyncio.sleep(min(idle / 4, 30.0))
            now = time.monotonic()
            async with self._lock:
                for handle, entry in list(self._open.items()):
                    if not entry.calls and now - entry.last_used >= idle and entry.pad.running_note() is None:
                        self._stopping[handle] = asyncio.ensure_future(self._stop_idle(handle))
                for sid, (_, seen) in list(self._sessions.items()):
                    if now - seen >= 2 * idle:
                        del self._sessions[sid]

    async def _stop_idle(self, handle: str) -> None:
        principal = self._open[handle].principal
        try:
            await self._close(handle)
        except Exception:
            _log.exception("stopping idle scratchpad %s failed", handle)
        finally:
            self._idled.add(handle)
            del self._stopping[handle]
        event = {"event": "reaped", "scratchpad": handle, "principal": principal}
        _log.info("scratchpad stopped after idle", extra=event)
