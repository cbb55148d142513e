"""Starting a scratchpad's kernel: launched, answering, configured, with the session's checkpoint loaded."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import anyio

from memex_mcp.protocol import ConfigureRequest, RestoreReport
from memex_mcp.server import recovery
from memex_mcp.server.kernel import Kernel, KernelDied
from memex_mcp.server.lifecycle import Lifecycle
from memex_mcp.server.session import SessionDir
from memex_mcp.server.settings import Settings


@dataclass(frozen=True)
class Started:
    """A ready kernel, and what it restored of the session's checkpoint."""

    kernel: Kernel
    restored: RestoreReport
    #: False when the kernel runs where the session directory is not the server's (a gateway host
    #: without the shared volume): its checkpoints cannot be restored from here.
    shares_state: bool = True


class KernelStarter:
    """Starts the kernels of one scratchpad, one after another."""

    def __init__(self, settings: Settings, workdir: Path, session: SessionDir, lifecycle: Lifecycle) -> None:
        self._settings = settings
        self._workdir = workdir
        self._session = session
        self._lifecycle = lifecycle
        #: Set when the scratchpad starts closing: no kernel is launched after that, so none outlives it.
        self.closing = False
        #: How the last restore ended its kernel, until a kernel is told (kept across failed starts).
        #: Only this server knows: a restore that stopped for any other reason (the server was
        #: stopped) leaves none, and the next kernel sets nothing aside.
        self._restore_ended: recovery.Ended | None = None

    async def start(self, launched: Kernel | None) -> Started:
        """A ready kernel (`launched`, if one is already starting) with the checkpoint loaded. A
        kernel that dies while loading it, or does not finish in time, is replaced once, and the new
        one sets aside the variable that was loading (see `recovery.restore`). A kernel that fails,
        or is cancelled, after it answered is shut down: none is left running unowned."""
        for attempt in range(2):
            if self.closing and launched is None:
                raise KernelDied("the server is closing this session")
            settings = self._settings
            kernel = launched or await Kernel.launch(
                self._workdir,
                self._session.config,
                self._lifecycle,
                settings.sandbox,
                settings.kernel_gateway,
                settings.kernel_name,
            )
            launched = None
            await kernel.ready()
            try:
                shares_state = await self._configure(kernel)
                restored = await self._restore(kernel)
            except BaseException as exc:
                with anyio.CancelScope(shield=True):
                    await kernel.shutdown(now=True)
                if isinstance(exc, KernelDied) and not attempt:
                    continue
                raise
            return Started(kernel, restored, shares_state)
        raise AssertionError("unreachable")

    async def _configure(self, kernel: Kernel) -> bool:
        """Send the answer schema; a kernel behind a gateway is also asked whether it sees a file the
        server writes into the session directory. Returns whether it shares that directory."""
        probe = None
        if self._settings.kernel_gateway is not None:
            probe = self._session.path / f".probe-{secrets.token_hex(8)}"
            probe.write_text("written by the server; the kernel reports whether it sees it\n")
        elif self._settings.answer_schema is None:
            return True
        try:
            reply = await kernel.call(
                ConfigureRequest(answer_schema=self._settings.answer_schema, probe=probe.name if probe else None)
            )
        finally:
            if probe is not None:
                probe.unlink(missing_ok=True)
        return reply.sees_probe is not False

    async def _restore(self, kernel: Kernel) -> RestoreReport:
        ended, self._restore_ended = self._restore_ended, None
        try:
            return await recovery.restore(kernel, ended, self._settings.restore_timeout)
        except recovery.RestoreStuck:
            self._restore_ended = "stuck"
            raise
        except KernelDied:
            self._restore_ended = "crashed"
            raise
