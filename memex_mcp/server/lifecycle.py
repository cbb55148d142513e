"""Everything of one server process that must stop when the process stops, and the order it stops in.

A server is stopped with SIGTERM, and under stdio it cannot unwind its scratchpads: the SDK reads
stdin in a thread no cancellation reaches. So each part registers here while it is open, and
`stop` ends them all, in this order:

    1. processes: kernels (and any still launching), downstream MCP servers, all at once
    2. files: sessions (the lock, an unnamed session's directory, the channel's socket)

Processes go first: a kernel that is still running would write into a session directory that is
being removed. One `Lifecycle` is made where the server is made (the command line, or
`build_server`), and handed to what it builds.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from enum import IntEnum

#: Stops one part: a coroutine function, or a plain function for parts that only hold files.
Stopper = Callable[[], Awaitable[object] | None]

#: Seconds the processes get to stop before the files are removed anyway.
PROCESS_TIMEOUT = 10.0


class Stage(IntEnum):
    PROCESSES = 1
    FILES = 2


class Lifecycle:
    def __init__(self) -> None:
        #: Set once `stop` starts: nothing new may start after that (it would never be stopped).
        self.stopping = False
        self._parts: dict[Stage, dict[object, Stopper]] = {stage: {} for stage in Stage}
        #: Kernel launches under way: a process being started is not registered yet.
        self._launches: set[asyncio.Future[None]] = set()

    def add(self, stage: Stage, part: object, stop: Stopper) -> None:
        """Stop `part` with `stop` when the process stops, unless it is discarded first."""
        self._parts[stage][part] = stop

    def discard(self, stage: Stage, part: object) -> None:
        self._parts[stage].pop(part, None)

    def __contains__(self, part: object) -> bool:
        return any(part in parts for parts in self._parts.values())

    @contextlib.asynccontextmanager
    async def launching(self) -> AsyncIterator[None]:
        """Around the start of a process that registers itself once it is up: `stop` waits for it,
        and the process, seeing `stopping` once it is up, stops itself instead of registering."""
        launched = asyncio.get_running_loop().create_future()
        self._launches.add(launched)
        try:
            yield
        finally:
            self._launches.discard(launched)
            launched.set_result(None)

    async def stop(self) -> None:
        """Stop every registered part, stage by stage; a part that fails to stop does not keep the
        others running, and processes that take longer than PROCESS_TIMEOUT are left to the OS."""
        self.stopping = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(PROCESS_TIMEOUT):
                await asyncio.gather(*self._launches, return_exceptions=True)
                await self._stop(Stage.PROCESSES)
        await self._stop(Stage.FILES)

    async def _stop(self, stage: Stage) -> None:
        parts, self._parts[stage] = self._parts[stage], {}
        pending = []
        for stop in parts.values():
            with contextlib.suppress(Exception):
                result = stop()
                if inspect.isawaitable(result):
                    pending.append(result)
        await asyncio.gather(*pending, return_exceptions=True)
