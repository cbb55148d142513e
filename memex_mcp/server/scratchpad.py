"""A client's scratchpad: its kernel, the FIFO of its calls, and what happens when the kernel fails."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import anyio

from memex_mcp.protocol import Progress, RestoreReport, ScopeListing
from memex_mcp.server import recovery
from memex_mcp.server.channel import ChannelServer
from memex_mcp.server.downstream import Downstream
from memex_mcp.server.errors import ToolInputError
from memex_mcp.server.kernel import Kernel, KernelDied
from memex_mcp.server.output import CellOutput
from memex_mcp.server.sampling import ClientSampling
from memex_mcp.server.session import SessionDir
from memex_mcp.server.settings import Settings

Status = Literal["ok", "error", "timeout", "died"]


@dataclass
class Execution:
    output: CellOutput
    status: Status = "ok"
    #: Sentences about the kernel the model must know, shown before the output.
    notes: list[str] = field(default_factory=list)
    #: Shown after the output when the execution did not simply finish.
    ending: str | None = None

    @property
    def is_error(self) -> bool:
        return self.status != "ok"


class Scratchpad:
    """Owns one kernel at a time. Calls run one at a time, in arrival order."""

    def __init__(self, settings: Settings, workdir: Path, launched: Kernel | None = None,
                 session: SessionDir | None = None) -> None:
        """`launched`: a kernel already starting (the command line starts one before the SDK loads),
        and `session`, the directory it was launched with."""
        assert (launched is None) == (session is None), "a launched kernel comes with its session"
        self._settings = settings
        self._launched = launched
        self.session = session or SessionDir(settings)
        self._workdir = workdir
        # anyio's lock hands itself to waiters first-come, first-served.
        self._lock = anyio.Lock()
        self._kernel: asyncio.Task[Kernel] | None = None
        self._notes: list[str] = []
        self._watcher: asyncio.Task[None] | None = None
        #: The client's model, for the kernel's `sampling` provider; app.py keeps its session current.
        self.sampling = ClientSampling()
        #: The `--mcp-config` servers, for the kernel's `tools`.
        self.downstream = Downstream(settings.mcp_config)
        #: Kernel code reaches the server here, from any thread, also while a cell runs.
        self.channel = ChannelServer(self.session.channel, {**self.sampling.handlers(), **self.downstream.handlers()})
        #: What the last kernel start restored from the session's checkpoint.
        self._restored = RestoreReport()
        self._first_start = True

    async def __aenter__(self) -> Scratchpad:
        # Before any code runs: kernels connect when they first need the server.
        await self.channel.start()
        self.downstream.start()
        self._kernel = asyncio.ensure_future(self._start_kernel(self._launched))
        self._launched = None
        self._watcher = asyncio.ensure_future(self._watch())
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
        if self._kernel is not None:
            with contextlib.suppress(BaseException):
                await (await self._kernel).shutdown()
        await self.channel.close()
        await self.downstream.close()
        self.session.close()

    async def _start_kernel(self, launched: Kernel | None = None) -> Kernel:
        kernel = await self._start_restored(launched)
        first, self._first_start = self._first_start, False
        if first and self._settings.session is not None and self._restored.found:
            self._notes.append(recovery.describe_session(self._settings.session, self._restored))
        if first and self.session.in_use_elsewhere:
            self._notes.append(recovery.IN_USE.format(name=self._settings.session))
        return kernel

    async def _start_restored(self, launched: Kernel | None) -> Kernel:
        """A ready kernel with the checkpoint loaded. A kernel that dies while loading it is replaced
        once: the runtime then sets that checkpoint aside and starts empty."""
        for attempt in range(2):
            kernel = launched or await Kernel.launch(self._workdir, self.session.config)
            launched = None
            await kernel.ready()
            if self._settings.answer_schema is not None:
                await kernel.call("configure", answer_schema=self._settings.answer_schema)
            try:
                self._restored = await recovery.restore(kernel)
            except KernelDied:
                await kernel.shutdown(now=True)
                if attempt:
                    raise
                continue
            return kernel
        raise AssertionError("unreachable")

    async def kernel(self) -> Kernel:
        """The current kernel, once it is ready. A kernel that failed to start is tried again."""
        assert self._kernel is not None, "use the scratchpad as an async context manager"
        if self._kernel.done() and self._kernel.exception() is not None:
            self._kernel = asyncio.ensure_future(self._start_kernel())
            if self._watcher is not None and self._watcher.done():
                self._watcher = asyncio.ensure_future(self._watch())
        return await self._kernel

    async def _replace(self, old: Kernel) -> str:
        """Start a new kernel with the scope of the last checkpoint; returns what came back."""
        with contextlib.suppress(Exception):
            await old.shutdown(now=True)
        self._kernel = asyncio.ensure_future(self._start_kernel())
        await self._kernel
        return recovery.describe(self._restored)

    async def _watch(self) -> None:
        """Replace a kernel that dies between calls at once, so the next call does not wait for it."""
        while True:
            try:
                kernel = await self.kernel()
            except Exception:
                return  # it cannot start; the next call retries, and watches again
            await kernel.dead.wait()
            async with self._lock:
                await self._replace_dead(kernel, self._notes)

    async def _replace_dead(self, kernel: Kernel, notes: list[str]) -> None:
        """Replace `kernel` unless a call already did, and leave a note for the next result."""
        if self._kernel is not None and self._kernel.done() and self._kernel.result() is kernel:
            restored = await self._replace(kernel)
            notes.append(self._death_note(kernel, restored))

    @staticmethod
    def _death_note(kernel: Kernel, restored: str) -> str:
        return (
            f"The kernel died after the previous call ({kernel.exit_description()}) and was replaced "
            f"by a new one; {restored}."
        )

    async def execute(self, code: str, timeout: float | None = None,
                      on_progress: Callable[[Progress], Awaitable[None]] | None = None) -> Execution:
        if len(code) > self._settings.max_code_chars:
            raise ToolInputError(
                f"The code is {len(code):,} characters; the limit is {self._settings.max_code_chars:,}. "
                "Put large data in a file and read it from code, or generate it in code."
            )
        limit = timeout if timeout is not None else self._settings.timeout
        if limit <= 0:
            raise ToolInputError("timeout must be a positive number of seconds.")
        async with self._lock:
            output = CellOutput(keep=self._settings.output_limit, keep_images=self._settings.max_images,
                                on_progress=on_progress)
            result = Execution(output)
            for _ in range(2):
                kernel = await self.kernel()
                if kernel.dead.is_set():
                    await self._replace_dead(kernel, self._notes)
                    kernel = await self.kernel()
                # Taken only now: starting the kernel may have left a note (a restored session).
                result.notes += self._notes + self.downstream.take_reports()
                self._notes = []
                await self._run(kernel, code, limit, result)
                if result.status != "died" or result.output.started:
                    break
                # It died before it saw this code (killed between calls): run it on the new one.
                result.status, result.ending = "ok", None
                result.notes.append(self._death_note(kernel, recovery.describe(self._restored)))
            return result

    async def _run(self, kernel: Kernel, code: str, limit: float, result: Execution) -> None:
        run = asyncio.ensure_future(kernel.execute(code, result.output))
        try:
            await self._supervise(kernel, run, limit, result)
        finally:
            if not run.done():  # the caller went away: stop the cell, as Ctrl-C would
                with anyio.CancelScope(shield=True):
                    await self._stop(kernel, run, result)

    async def _supervise(self, kernel: Kernel, run: asyncio.Future[None], limit: float,
                         result: Execution) -> None:
        try:
            await asyncio.wait({run}, timeout=limit)
            if not run.done():
                result.status = "timeout"
                result.ending = f"TimeoutError: the execution exceeded {limit:g} s and was interrupted."
                await self._stop(kernel, run, result)
                return
            run.result()
            if (result.output.report and result.output.report.error) or result.output.raw_error:
                result.status = "error"
        except KernelDied as died:
            result.status = "died"
            restored = await self._replace(kernel)
            result.ending = (
                f"The kernel died while running this code ({died.description}) and was replaced by "
                f"a new one; {restored}."
            )

    async def _stop(self, kernel: Kernel, run: asyncio.Future[None], result: Execution) -> None:
        """Interrupt; if the code ignores it for the grace period, restart the kernel."""
        with contextlib.suppress(Exception):
            await kernel.interrupt()
        await asyncio.wait({run}, timeout=self._settings.interrupt_grace)
        if run.done() and not run.cancelled() and run.exception() is None:
            result.ending = (result.ending or "The execution was interrupted.") + " The kernel kept its state."
            return
        run.cancel()
        restored = await self._replace(kernel)
        result.ending = (result.ending or "The execution was interrupted.") + (
            f" It did not stop within {self._settings.interrupt_grace:g} s of the interrupt, so the kernel "
            f"was restarted; {restored}."
        )

    async def list_scope(self, pattern: str | None) -> ScopeListing:
        async with self._lock:
            kernel = await self.kernel()
            return ScopeListing.model_validate(await kernel.call("scope", pattern=pattern))

    async def submit(self, value: Any, variable: str | None, schema: dict[str, Any] | None) -> Any:
        async with self._lock:
            kernel = await self.kernel()
            try:
                return await kernel.call("submit", value=value, variable=variable, schema=schema)
            except ValueError as exc:
                raise ToolInputError(str(exc)) from None

    async def spawn_agent(self, task: str, inputs: list[str] | None, output_schema: dict[str, Any] | None,
                          name: str | None) -> str:
        """Start a sub-agent in the kernel; returns the variable that holds its handle."""
        async with self._lock:
            kernel = await self.kernel()
            try:
                variable: str = await kernel.call("spawn_agent", task=task, inputs=inputs,
                                                  output_schema=output_schema, name=name)
            except ValueError as exc:
                raise ToolInputError(str(exc)) from None
            return variable
