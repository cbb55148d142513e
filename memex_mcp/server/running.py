"""An execution in the kernel: whether it has begun and how it ended, and one that outlived the call
that started it, which runs on in the kernel while its output waits, in order and in bounded memory,
for the next call to take it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from memex_mcp.server.kernel import Kernel
from memex_mcp.server.outcome import Outcome, StillRunning, duration
from memex_mcp.server.output import CellOutput


@dataclass
class Running:
    """One execution the kernel has begun. `supervisor` ends with how it ended (see
    `Scratchpad._oversee`); it is set once the execution outlives its call's first wait (one that
    ends sooner needs none), and always before the execution is handed to a later call. Its IOPub
    stream is read by `run` whether or not a call is waiting."""

    kernel: Kernel
    run: asyncio.Future[None]
    #: Filled by `run`; what has not yet been returned to the model.
    output: CellOutput
    began_at: float
    limit: float
    #: Its execution number, when the server knows it (see `Scratchpad._number`).
    number: int | None
    supervisor: asyncio.Future[Outcome] = field(init=False)
    #: Set to interrupt it (interrupt=True, or the call that started it was cancelled).
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.began_at

    def take(self) -> CellOutput:
        """What it produced since the last take; the stream goes on into a fresh buffer, so
        nothing is returned twice and nothing is lost."""
        out = self.output
        taken = CellOutput(keep=out.keep, keep_images=out.keep_images)
        taken.text, out.text = out.text, taken.text
        taken.images, out.images = out.images, []
        taken.images_dropped, out.images_dropped = out.images_dropped, 0
        taken.report, taken.raw_error = out.report, out.raw_error
        taken.started = out.started
        return taken

    def still(self, held_code: bool = False) -> StillRunning:
        progress = self.output.runtime_progress
        return StillRunning(self.number, self.seconds, self.limit, progress.message if progress else None, held_code)

    def note(self) -> str:
        """One line for every tool's reply while it runs, so that the model never forgets it."""
        progress = self.output.runtime_progress
        how = duration(self.seconds) + (f"; {progress.message}" if progress and progress.message else "")
        return (
            f"[memex] {self.still().label} is still running ({how}); execute_code continues it "
            '(code "" only waits for it), execute_code with interrupt=True stops it.'
        )


async def begun(run: asyncio.Future[None], out: CellOutput, limit: float) -> bool:
    """Wait until the kernel begins the code `run` sends, or the run ends, for at most `limit`
    seconds. False: the kernel is still busy with work of its own (the previous call's checkpoint)."""
    began = asyncio.ensure_future(out.began.wait())
    waiting: set[asyncio.Future[Any]] = {run, began}
    try:
        await asyncio.wait(waiting, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
    finally:
        began.cancel()
    return out.began.is_set() or run.done()


def ended_cleanly(run: asyncio.Future[None]) -> bool:
    """Whether `run` has ended without an error: any other end is `Scratchpad._oversee`'s to report."""
    return run.done() and not run.cancelled() and run.exception() is None
