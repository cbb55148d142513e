"""A client's scratchpad: its kernel, the FIFO of its calls, and what happens when the kernel fails."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio

from memex_mcp.protocol import Progress, ScopeListing, SubmitReceipt
from memex_mcp.server import recovery, relay
from memex_mcp.server.calls import RuntimeCalls
from memex_mcp.server.channel import ChannelServer
from memex_mcp.server.downstream import Downstream
from memex_mcp.server.errors import ToolInputError
from memex_mcp.server.kernel import Kernel, KernelDied
from memex_mcp.server.lifecycle import Lifecycle
from memex_mcp.server.outcome import (
    CellResult,
    Died,
    DiedOnInterrupt,
    Finished,
    Interrupted,
    KeptState,
    NotBegun,
    Outcome,
    Replacement,
    StillRunning,
    Stop,
    TimedOut,
    Unstoppable,
)
from memex_mcp.server.output import CellOutput
from memex_mcp.server.running import Running, begun, ended_cleanly
from memex_mcp.server.sampling import ClientSampling
from memex_mcp.server.session import SessionDir
from memex_mcp.server.settings import Settings
from memex_mcp.server.starting import KernelStarter

_log = logging.getLogger("memex_mcp.sessions")


class Scratchpad:
    """Owns one kernel at a time. Calls run one at a time, in arrival order."""

    def __init__(
        self,
        settings: Settings,
        workdir: Path,
        launched: Kernel | None = None,
        session: SessionDir | None = None,
        lifecycle: Lifecycle | None = None,
        downstream: Downstream | None = None,
    ) -> None:
        """`launched`: a kernel already starting (the command line starts one before the SDK loads),
        and `session`, the directory it was launched with. `lifecycle`: what stops the scratchpad's
        kernels, servers and files when the process stops (by default, one of its own).
        `downstream`: the `--mcp-config` servers when they are shared with other scratchpads (their
        owner starts and stops them); by default the scratchpad starts its own."""
        assert launched is None or session is not None, "a launched kernel comes with its session"
        self._settings = settings
        self._lifecycle = lifecycle or Lifecycle()
        self._launched = launched
        self.session = session or SessionDir(settings, self._lifecycle)
        self._starter = KernelStarter(settings, workdir, self.session, self._lifecycle)
        # anyio's lock hands itself to waiters first-come, first-served.
        self._lock = anyio.Lock()
        #: The runtime calls of the tools (list_scope, submit, spawn_agent).
        self._calls = RuntimeCalls(self.kernel, settings.call_timeout)
        self._kernel: asyncio.Task[Kernel] | None = None
        self._notes: list[str] = []
        self._watcher: asyncio.Task[None] | None = None
        #: The client's model, for the kernel's `sampling` provider; app.py keeps its session current.
        self.sampling = ClientSampling()
        #: The `--mcp-config` servers, for the kernel's `tools`.
        self._own_downstream = downstream is None
        self.downstream = downstream or Downstream(settings.mcp_config)
        #: Kernel code reaches the server here, from any thread, also while a cell runs.
        handlers = {**self.sampling.handlers(), **self.downstream.handlers(), **relay.handlers()}
        self.channel = ChannelServer(self.session.endpoint, handlers)
        self._first_start = True
        #: An execution a call returned before its end (see `reply_within`), until a call takes its end.
        self._running: Running | None = None
        #: The number the kernel gives its next execution, when known: 1 in a new kernel, the last
        #: report's plus one after that (a restored kernel goes on from its history's numbers).
        self._number: int | None = None
        #: Kernels replaced so far (died, or did not stop when interrupted).
        self.replacements = 0

    async def __aenter__(self) -> Scratchpad:
        # Before any code runs: kernels connect when they first need the server.
        await self.channel.start()
        if self._own_downstream:
            self.downstream.start(self._lifecycle)
        self._kernel = asyncio.ensure_future(self._start_kernel(self._launched))
        self._launched = None
        self._watcher = asyncio.ensure_future(self._watch())
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        """Stop the kernel and remove the session's files. Shielded, and each step runs whatever the
        one before did: a server that is stopping must not leave a kernel or a directory behind."""
        self._starter.closing = True
        with anyio.CancelScope(shield=True):
            try:
                if self._running is not None:
                    # Stopped before the kernel goes, and awaited: its end is nobody's news any more.
                    tasks: set[asyncio.Future[Any]] = {self._running.supervisor, self._running.run}
                    for task in tasks:
                        task.cancel()
                    await asyncio.wait(tasks)
                    for task in tasks:
                        if not task.cancelled():
                            task.exception()
                if self._watcher is not None:
                    self._watcher.cancel()
                    await asyncio.wait({self._watcher})  # a replacement it was starting is shut down below
                if self._kernel is not None:
                    with contextlib.suppress(BaseException):
                        await (await self._kernel).shutdown()
            finally:
                try:
                    with contextlib.suppress(Exception):
                        await self.channel.close()
                    if self._own_downstream:
                        with contextlib.suppress(Exception):
                            await self.downstream.close()
                finally:
                    self.session.close()

    async def _start_kernel(self, launched: Kernel | None = None, retry: bool = False) -> Kernel:
        """`retry`: an earlier start failed, so the next result says what the new kernel restored."""
        kernel = await self._starter.start(launched)
        restored = self._starter.restored
        first, self._first_start = self._first_start, False
        self._number = None if restored.found else 1
        if first and self._settings.session is not None and restored.found:
            self._notes.append(recovery.describe_session(self._settings.session, restored))
        if first and self.session.in_use_elsewhere:
            self._notes.append(recovery.IN_USE.format(name=self._settings.session))
        if retry and not first:
            self._notes.append(f"A new kernel has started; {recovery.describe(restored)}.")
        return kernel

    async def kernel(self) -> Kernel:
        """The current kernel, once it is ready. A kernel that failed to start is tried again.

        The start is shielded: a caller that is cancelled while it waits (a client cancelling its
        first call) must not cancel the start for every later call."""
        assert self._kernel is not None, "use the scratchpad as an async context manager"
        if self._kernel.done() and (self._kernel.cancelled() or self._kernel.exception() is not None):
            self._kernel = asyncio.ensure_future(self._start_kernel(retry=True))
            if self._watcher is not None and self._watcher.done():
                self._watcher = asyncio.ensure_future(self._watch())
        return await asyncio.shield(self._kernel)

    def kernel_pid(self) -> int | None:
        """The process id of the current kernel, if one runs."""
        kernel = self._current()
        return kernel.pid if kernel is not None else None

    def _current(self) -> Kernel | None:
        """The kernel, if one has started and is not being replaced."""
        task = self._kernel
        if task is None or not task.done() or task.cancelled() or task.exception() is not None:
            return None
        return task.result()

    async def _replace(self, old: Kernel) -> Replacement:
        """Start a new kernel with the scope of the last checkpoint. If none can be started, the next
        call tries again."""
        with contextlib.suppress(Exception):
            await old.shutdown(now=True)
        self.replacements += 1
        _log.warning("kernel replaced", extra={"event": "kernel replaced", "scratchpad": self._settings.session})
        self._kernel = asyncio.ensure_future(self._start_kernel())
        try:
            await asyncio.shield(self._kernel)
        except Exception as exc:
            return Replacement(
                False, exc.description if isinstance(exc, KernelDied) else f"{type(exc).__name__}: {exc}"
            )
        return Replacement(True, recovery.describe(self._starter.restored))

    async def _watch(self) -> None:
        """Replace a kernel that dies between calls at once, so the next call does not wait for it."""
        while True:
            try:
                kernel = await self.kernel()
            except Exception:
                return  # it cannot start; the next call retries, and watches again
            await kernel.dead.wait()
            async with self._lock:
                await self._replace_dead(kernel)

    async def _replace_dead(self, kernel: Kernel) -> None:
        """Replace `kernel` unless a call already did, and leave a note for the next result."""
        running = self._running
        if running is not None and running.kernel is kernel:
            await asyncio.wait({running.supervisor})  # it replaces the kernel, and its end says so
            return
        if self._current() is kernel:
            what = f"The kernel died after the previous call ({kernel.exit_description()})"
            self._notes.append((await self._replace(kernel)).after(what))

    async def execute(
        self,
        code: str,
        timeout: float | None = None,
        on_progress: Callable[[Progress], Awaitable[None]] | None = None,
        interrupt: bool = False,
    ) -> CellResult:
        """Run `code`, first waiting for (or, with `interrupt`, stopping) an execution that an
        earlier call left running. An execution still running after `reply_within` seconds is left
        running and the result says so (see `Running`)."""
        if len(code) > self._settings.max_code_chars:
            raise ToolInputError(
                f"The code is {len(code):,} characters; the limit is {self._settings.max_code_chars:,}. "
                "Put large data in a file and read it from code, or generate it in code."
            )
        limit = timeout if timeout is not None else self._settings.timeout
        if not math.isfinite(limit) or limit <= 0:
            raise ToolInputError(
                f"timeout must be a positive, finite number of seconds, not {limit!r}; the code was not run. "
                f"Leave it out for the default of {self._settings.timeout:g} s."
            )
        async with self._lock:
            earlier: CellResult | None = None
            if self._running is not None:
                earlier = await self._resume(self._running, interrupt, on_progress, held_code=bool(code.strip()))
                if isinstance(earlier.outcome, StillRunning) or not code.strip():
                    return earlier
            notes: list[str] = []
            if interrupt and earlier is None:
                notes.append("No execution was running, so none was interrupted.")
            for attempt in range(2):
                kernel = await self.kernel()
                if kernel.dead.is_set():
                    await self._replace_dead(kernel)
                    kernel = await self.kernel()
                # Taken only now: starting the kernel may have left a note (a restored session).
                notes += self._notes + self.downstream.take_reports()
                self._notes = []
                output = CellOutput(
                    keep=self._settings.output_limit, keep_images=self._settings.max_images, on_progress=on_progress
                )
                outcome = await self._run(kernel, code, limit, output)
                if isinstance(outcome, NotBegun):
                    # Taken by the next try, or kept for the next call if no kernel starts.
                    self._notes.append(outcome.note)
                if isinstance(outcome, StillRunning) and self._running is not None:
                    output = self._running.take()
                if not isinstance(outcome, NotBegun) or attempt:
                    return CellResult(output, outcome, tuple(notes), earlier=earlier)
        raise AssertionError("unreachable")

    def running_note(self) -> str | None:
        """One line saying that an execution is still running, for any tool's reply; None if none is."""
        running = self._running
        return running.note() if running is not None and not running.supervisor.done() else None

    async def _resume(
        self,
        running: Running,
        interrupt: bool,
        on_progress: Callable[[Progress], Awaitable[None]] | None,
        held_code: bool,
    ) -> CellResult:
        """Wait at most `reply_within` for the execution an earlier call left running, and return
        what it printed since. A cancel of this call stops the wait, never the execution."""
        if interrupt:
            running.stop.set()
        running.output.on_progress = on_progress
        try:
            await asyncio.wait({running.supervisor}, timeout=self._settings.reply_within)
        finally:
            running.output.on_progress = None
        taken = running.take()
        if not running.supervisor.done():
            return CellResult(taken, running.still(held_code), continued=True)
        self._running = None
        return CellResult(taken, running.supervisor.result(), continued=True)

    async def _run(self, kernel: Kernel, code: str, limit: float, output: CellOutput) -> Outcome:
        """Run `code` on `kernel`. Its clock starts when the kernel begins it: the previous call's
        checkpoint, written before it, is not charged to it. An interrupt is sent only while the
        kernel runs this code, so that it can never land on anything else.

        A cancel before the reply (the caller went away) stops the code, as Ctrl-C would. After
        `reply_within` seconds the execution is handed to the scratchpad (`self._running`) and
        runs on; the caller gets StillRunning."""
        reply_by = time.monotonic() + self._settings.reply_within
        run = asyncio.ensure_future(kernel.execute(code, output))
        # Saving the previous call's checkpoint comes first and may take longer than this code's own
        # timeout; replacing the kernel then would lose what it was saving. So it gets until the reply
        # is due, at least.
        before = max(limit, self._settings.reply_within)
        try:
            started = await begun(run, output, before)
        except asyncio.CancelledError:
            with anyio.CancelScope(shield=True):
                await self._abandon(kernel, run, output, limit)
            raise
        if not started:
            return await self._not_begun(kernel, run, before, output)
        running = Running(kernel, run, output, time.monotonic(), limit, self._number)
        overseen = False
        try:
            # Most code ends before its reply is due and its timeout: it is awaited right here, and
            # only code that runs on gets a supervisor (a task per call costs the warm path).
            await asyncio.wait({run}, timeout=max(min(reply_by, running.began_at + limit) - time.monotonic(), 0))
            if ended_cleanly(run):
                return self._finished(running)
            running.supervisor, overseen = asyncio.ensure_future(self._oversee(running)), True
            # Code whose run has already ended (its kernel died) runs on nowhere: its call waits for the
            # replacement kernel, however long that takes, rather than return "still running".
            left = None if run.done() else max(reply_by - time.monotonic(), 0)
            await asyncio.wait({running.supervisor}, timeout=left)
        except asyncio.CancelledError:
            running.stop.set()
            if not overseen:
                running.supervisor = asyncio.ensure_future(self._oversee(running))
            with anyio.CancelScope(shield=True):
                outcome = await running.supervisor
            if isinstance(outcome, NotBegun | Died):  # no result carries it: the next call says it
                self._notes.append(
                    outcome.note if isinstance(outcome, NotBegun) else outcome.replacement.after(outcome.cause)
                )
            raise
        if running.supervisor.done():
            return running.supervisor.result()
        output.on_progress = None  # its progress now goes to whichever call waits for it
        self._running = running
        return running.still()

    async def _abandon(self, kernel: Kernel, run: asyncio.Future[None], output: CellOutput, limit: float) -> None:
        """The caller went away before the kernel began the code: stop it if it begins now. No
        result is returned to anyone, so what the next call must know is left as a note."""
        if not await begun(run, output, limit):
            outcome = await self._not_begun(kernel, run, limit, output)
            if isinstance(outcome, NotBegun):  # no result carries it: the next call says it
                self._notes.append(outcome.note)
        elif not run.done():
            await self._stop(kernel, run)

    async def _not_begun(
        self, kernel: Kernel, run: asyncio.Future[None], limit: float, output: CellOutput
    ) -> NotBegun | Died:
        """The kernel has not begun the code after `limit` seconds: it is stuck in work that is not
        this call's, which an interrupt must not hit. It is replaced; code it never began runs on
        the new kernel (see `execute`)."""
        run.cancel()
        replacement = await self._replace(kernel)
        what = (
            f"The kernel was still busy with work of the previous call (saving its checkpoint) {limit:g} s "
            "after this code was sent"
        )
        if output.request is not None and kernel.began(output.request):  # it began the code in that very instant
            output.started = True
            cause = f"TimeoutError: {what}, and began it only then; it was stopped"
            return Died(cause, replacement, not_run_again=True)
        return NotBegun(what, replacement)

    async def _oversee(self, running: Running) -> Finished | TimedOut | Interrupted | Died | NotBegun:
        """Wait for the execution's end, interrupting it at its timeout (counted from when the
        kernel began it, across replies) or when `running.stop` is set."""
        kernel, run, output = running.kernel, running.run, running.output
        stop = asyncio.ensure_future(running.stop.wait())
        waiting: set[asyncio.Future[Any]] = {run, stop}
        try:
            left = running.began_at + running.limit - time.monotonic()
            await asyncio.wait(waiting, timeout=max(left, 0), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        try:
            if not run.done():
                stopped = await self._stop(kernel, run)
                return Interrupted(stopped) if running.stop.is_set() else TimedOut(running.limit, stopped)
            run.result()
        except KernelDied as died:
            replacement = await self._replace(kernel)
            if output.started:
                return Died(f"The kernel died while running this code ({died.description})", replacement)
            return NotBegun(f"The kernel died after the previous call ({died.description})", replacement)
        return self._finished(running)

    def _finished(self, running: Running) -> Finished:
        output = running.output
        if output.report is not None:
            self._number = output.report.execution_count + 1
        return Finished.of(output)

    async def _stop(self, kernel: Kernel, run: asyncio.Future[None]) -> Stop:
        """Interrupt; if the code ignores it for the grace period, restart the kernel."""
        with contextlib.suppress(Exception):
            await kernel.interrupt()
        await asyncio.wait({run}, timeout=self._settings.interrupt_grace)
        if run.done() and not run.cancelled() and run.exception() is None:
            return KeptState()
        died = run.done() and not run.cancelled() and isinstance(run.exception(), KernelDied)
        run.cancel()
        replacement = await self._replace(kernel)
        if died:
            return DiedOnInterrupt(kernel.exit_description(), replacement)
        return Unstoppable(self._settings.interrupt_grace, replacement)

    async def list_scope(self, pattern: str | None) -> ScopeListing:
        """The user's variables (see `RuntimeCalls`: answered also while an execution runs)."""
        return await self._calls.list_scope(pattern)

    async def submit(self, value: Any, variable: str | None, schema: dict[str, Any] | None) -> SubmitReceipt:
        return await self._calls.submit(value, variable, schema)

    async def spawn_agent(
        self, task: str, inputs: list[str] | None, output_schema: dict[str, Any] | None, name: str | None
    ) -> str:
        """Start a sub-agent in the kernel; returns the variable that holds its handle."""
        return await self._calls.spawn_agent(task, inputs, output_schema, name)
