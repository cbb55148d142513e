"""A client's scratchpad: its kernel, the FIFO of its calls, and what happens when the kernel fails."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio

from memex_mcp.protocol import Progress, ScopeListing, SubmitReceipt
from memex_mcp.server import relay
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
from memex_mcp.server.supervisor import KernelStarted, Supervisor


class Scratchpad:
    """Runs a client's calls on its kernel, one at a time, in arrival order. Which kernel that is,
    and replacing it, is its `Supervisor`'s; what happened to it, the scratchpad says in the next
    result."""

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
        # anyio's lock hands itself to waiters first-come, first-served.
        self._lock = anyio.Lock()
        self._supervisor = Supervisor(settings, workdir, self.session, self._lifecycle, self._lock, self._overseer)
        #: The runtime calls of the tools (list_scope, submit, spawn_agent).
        self._calls = RuntimeCalls(self._supervisor.kernel, settings.call_timeout)
        #: What a call could not say in its own result (no result carried it), for the next one.
        self._notes: list[str] = []
        #: The client's model, for the kernel's `sampling` provider; app.py keeps its session current.
        self.sampling = ClientSampling()
        #: The `--mcp-config` servers, for the kernel's `tools`.
        self._own_downstream = downstream is None
        self.downstream = downstream or Downstream(settings.mcp_config)
        #: Kernel code reaches the server here, from any thread, also while a cell runs.
        handlers = {**self.sampling.handlers(), **self.downstream.handlers(), **relay.handlers()}
        self.channel = ChannelServer(self.session.endpoint, handlers)
        #: An execution a call returned before its end (see `reply_within`), until a call takes its end.
        self._running: Running | None = None
        #: The number the kernel gives its next execution, when known: 1 in a new kernel, the last
        #: report's plus one after that (a restored kernel goes on from its history's numbers).
        self._number: int | None = None

    @property
    def replacements(self) -> int:
        """Kernels replaced so far (died, or did not stop when interrupted)."""
        return self._supervisor.replacements

    def kernel_pid(self) -> int | None:
        """The process id of the current kernel, if one runs."""
        return self._supervisor.kernel_pid()

    async def __aenter__(self) -> Scratchpad:
        # Before any code runs: kernels connect when they first need the server.
        await self.channel.start()
        if self._own_downstream:
            self.downstream.start(self._lifecycle)
        self._supervisor.open(self._launched)
        self._launched = None
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        """Stop the kernel and remove the session's files. Shielded, and each step runs whatever the
        one before did: a server that is stopping must not leave a kernel or a directory behind."""
        # First: stopping the execution below must not start a kernel that would outlive the scratchpad.
        self._supervisor.stop_starting()
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
                await self._supervisor.close()
            finally:
                try:
                    with contextlib.suppress(Exception):
                        await self.channel.close()
                    if self._own_downstream:
                        with contextlib.suppress(Exception):
                            await self.downstream.close()
                finally:
                    self.session.close()

    def _overseer(self, kernel: Kernel) -> asyncio.Future[Outcome] | None:
        """The task still overseeing an execution on `kernel` that its call returned before its end:
        if that kernel dies, the task replaces it, and its outcome says so."""
        running = self._running
        if running is None or running.kernel is not kernel or running.supervisor.done():
            return None
        return running.supervisor

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
                kernel = await self._supervisor.kernel()
                if kernel.dead.is_set():
                    died = await self._supervisor.replace_dead(kernel)
                    if died is not None:
                        self._notes.append(died.note)
                    kernel = await self._supervisor.kernel()
                # Taken only now: starting the kernel may have left news (a restored session).
                notes += self._take_notes() + self.downstream.take_reports()
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

    def _take_notes(self) -> list[str]:
        """This scratchpad's notes and then the supervisor's news, each taken once. A kernel's start
        also tells where its execution numbers begin."""
        notes, self._notes = self._notes, []
        for event in self._supervisor.take_events():
            if isinstance(event, KernelStarted):
                self._number = event.first_number
            else:
                notes.append(event.note)
        return notes

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
        replacement = await self._supervisor.replace(kernel)
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
            replacement = await self._supervisor.replace(kernel)
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
        replacement = await self._supervisor.replace(kernel)
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
