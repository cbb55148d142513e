"""Which kernel a scratchpad's calls run on: started with the checkpoint restored, replaced when it
dies or is stuck, watched for deaths between calls.

The supervisor says what happened as values: `replace` returns a `Replacement`, and what happens in
the background (a start, a kernel that died while no call ran) is queued as events the scratchpad
takes and turns into the next result's notes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from memex_mcp.protocol import RestoreReport
from memex_mcp.server import recovery
from memex_mcp.server.kernel import Kernel, KernelDied
from memex_mcp.server.lifecycle import Lifecycle
from memex_mcp.server.outcome import Replacement
from memex_mcp.server.session import SessionDir
from memex_mcp.server.settings import Settings
from memex_mcp.server.starting import KernelStarter, Started

_log = logging.getLogger("memex_mcp.sessions")


# What happened in the background, for the next result.


@dataclass(frozen=True)
class KernelStarted:
    """A kernel started (any start). It numbers its executions from 1, unless it restored a
    checkpoint: then it goes on from its history's numbers, which the server learns from its first
    execution."""

    restored: RestoreReport

    @property
    def first_number(self) -> int | None:
        return None if self.restored.found else 1


@dataclass(frozen=True)
class SessionRestored:
    """The first kernel of a named session found the session's checkpoint."""

    name: str
    restored: RestoreReport

    @property
    def note(self) -> str:
        return recovery.describe_session(self.name, self.restored)


@dataclass(frozen=True)
class SessionInUse:
    """Another process holds the session: this one's variables are not checkpointed."""

    name: str | None

    @property
    def note(self) -> str:
        return recovery.IN_USE.format(name=self.name)


@dataclass(frozen=True)
class Restarted:
    """A kernel started after an earlier start had failed."""

    restored: RestoreReport

    @property
    def note(self) -> str:
        return f"A new kernel has started; {recovery.describe(self.restored)}."


@dataclass(frozen=True)
class DiedBetweenCalls:
    """The kernel died while no execution ran on it, and was replaced."""

    description: str
    replacement: Replacement

    @property
    def note(self) -> str:
        return self.replacement.after(f"The kernel died after the previous call ({self.description})")


@dataclass(frozen=True)
class StateNotShared:
    """The kernel's host does not see the server's state directory (a gateway host without it)."""

    path: str

    @property
    def note(self) -> str:
        return (
            f"This scratchpad's kernel runs on a host that does not share the server's state directory ({self.path}): "
            "its checkpoints stay on that host, so if the kernel dies its variables cannot be restored. Mount the "
            "state directory at the same path on the gateway's hosts to have them restored."
        )


Event = KernelStarted | SessionRestored | SessionInUse | Restarted | DiedBetweenCalls | StateNotShared


class Supervisor:
    """Owns the kernel of one scratchpad: at most one is current, and a new one replaces it only
    through `replace`.

    `turn`: the scratchpad's FIFO of calls; a death between calls is handled in its turn, so no call
    sees a kernel half replaced. `overseer(kernel)`: the task of an execution still running on
    `kernel` after its call returned, if there is one: the death of its kernel is that task's to
    replace and report, so the watcher leaves it alone."""

    def __init__(
        self,
        settings: Settings,
        workdir: Path,
        session: SessionDir,
        lifecycle: Lifecycle,
        turn: anyio.Lock,
        overseer: Callable[[Kernel], asyncio.Future[Any] | None],
    ) -> None:
        self._settings = settings
        self._session = session
        self._starter = KernelStarter(settings, workdir, session, lifecycle)
        self._turn = turn
        self._overseer = overseer
        self._task: asyncio.Task[Started] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._events: list[Event] = []
        self._first_start = True
        #: Kernels replaced so far (died, or did not stop when interrupted).
        self.replacements = 0

    def open(self, launched: Kernel | None = None) -> None:
        """Start the first kernel (`launched`, if one is already starting) and watch it."""
        self._task = asyncio.ensure_future(self._start(launched))
        self._watcher = asyncio.ensure_future(self._watch())

    def take_events(self) -> list[Event]:
        """What happened since the last take, oldest first; each event is taken once."""
        events, self._events = self._events, []
        return events

    async def kernel(self) -> Kernel:
        """The current kernel, once it is ready. A kernel that failed to start is tried again.

        The start is shielded: a caller that is cancelled while it waits (a client cancelling its
        first call) must not cancel the start for every later call."""
        assert self._task is not None, "open the supervisor first"
        if _failed(self._task):
            self._task = asyncio.ensure_future(self._start(retry=True))
            if self._watcher is not None and self._watcher.done():
                self._watcher = asyncio.ensure_future(self._watch())
        return (await asyncio.shield(self._task)).kernel

    def current(self) -> Kernel | None:
        """The kernel, if one has started and is not being replaced."""
        task = self._task
        if task is None or not task.done() or _failed(task):
            return None
        return task.result().kernel

    def kernel_pid(self) -> int | None:
        """The process id of the current kernel, if one runs."""
        kernel = self.current()
        return kernel.pid if kernel is not None else None

    async def replace(self, old: Kernel) -> Replacement:
        """Shut `old` down and start a new kernel with the scope of the last checkpoint. If none can
        be started, the Replacement says why, and the next `kernel()` tries again."""
        with contextlib.suppress(Exception):
            await old.shutdown(now=True)
        self.replacements += 1
        _log.warning("kernel replaced", extra={"event": "kernel replaced", "scratchpad": self._settings.session})
        self._task = asyncio.ensure_future(self._start())
        try:
            started = await asyncio.shield(self._task)
        except Exception as exc:
            return Replacement(
                False, exc.description if isinstance(exc, KernelDied) else f"{type(exc).__name__}: {exc}"
            )
        return Replacement(True, recovery.describe(started.restored))

    async def replace_dead(self, kernel: Kernel) -> DiedBetweenCalls | None:
        """Replace `kernel`, found dead while no execution ran on it; None if it is no longer the
        current kernel (it was replaced already). Call it in the scratchpad's turn."""
        if self.current() is not kernel:
            return None
        description = kernel.exit_description()  # before the shutdown, which may change what it says
        return DiedBetweenCalls(description, await self.replace(kernel))

    def stop_starting(self) -> None:
        """Launch no kernel from now on: one launched while the scratchpad closes would outlive it."""
        self._starter.closing = True

    async def close(self) -> None:
        """Stop watching, and shut down the current kernel, or the one starting (shielded)."""
        self.stop_starting()
        with anyio.CancelScope(shield=True):
            if self._watcher is not None:
                self._watcher.cancel()
                await asyncio.wait({self._watcher})  # a replacement it was starting is shut down below
            if self._task is not None:
                with contextlib.suppress(BaseException):
                    await (await self._task).kernel.shutdown()

    async def _start(self, launched: Kernel | None = None, retry: bool = False) -> Started:
        """`retry`: an earlier start failed, so the next result says what the new kernel restored."""
        started = await self._starter.start(launched)
        restored = started.restored
        # Only a start that succeeds is the first: a session that failed to start is still news.
        first, self._first_start = self._first_start, False
        self._events.append(KernelStarted(restored))
        if first and self._settings.session is not None and restored.found:
            self._events.append(SessionRestored(self._settings.session, restored))
        if first and self._session.in_use_elsewhere:
            self._events.append(SessionInUse(self._settings.session))
        if retry and not first:
            self._events.append(Restarted(restored))
        if first and not started.shares_state:
            _log.warning("kernel does not share the state directory; restores after a death are off")
            self._events.append(StateNotShared(str(self._session.path)))
        return started

    async def _watch(self) -> None:
        """Replace a kernel that dies between calls at once, so the next call does not wait for it."""
        while True:
            try:
                kernel = await self.kernel()
            except Exception:
                return  # it cannot start; the next call retries, and watches again
            await kernel.dead.wait()
            async with self._turn:
                overseer = self._overseer(kernel)
                if overseer is not None:
                    await asyncio.wait({overseer})  # it replaces the kernel, and its end says so
                elif (died := await self.replace_dead(kernel)) is not None:
                    self._events.append(died)


def _failed(task: asyncio.Task[Started]) -> bool:
    return task.done() and (task.cancelled() or task.exception() is not None)
