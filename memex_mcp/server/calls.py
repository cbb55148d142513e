"""The tools' calls into the runtime (list_scope, submit, spawn_agent), beside any execution."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
from pydantic import BaseModel

from memex_mcp.protocol import (
    RuntimeCall,
    ScopeListing,
    ScopeRequest,
    SpawnAgentRequest,
    SubmitReceipt,
    SubmitRequest,
)
from memex_mcp.server.errors import ToolInputError
from memex_mcp.server.kernel import Kernel

R = TypeVar("R", bound=BaseModel)


class RuntimeCalls:
    """Runs the tools' runtime calls on the kernel `kernel()` returns (the current one, once ready).

    Calls run on the kernel's subshell, beside any execution: they wait for the kernel to be started
    (or replaced), never for an execution to end, and they never interrupt one. They run one at a
    time among themselves, so a call stuck in the kernel is given up on by the call that sent it,
    and by no other."""

    def __init__(self, kernel: Callable[[], Awaitable[Kernel]], call_timeout: float) -> None:
        self._kernel = kernel
        self._timeout = call_timeout
        self._one_at_a_time = anyio.Lock()

    async def list_scope(self, pattern: str | None) -> ScopeListing:
        return await self._call(
            "list_scope",
            ScopeRequest(pattern=pattern),
            "Some variable's summary is slow (its __repr__ or __len__ computes or waits): "
            "list fewer with a `pattern` that leaves it out, or look at variables with execute_code.",
            read_only=True,
        )

    async def submit(self, value: Any, variable: str | None, schema: dict[str, Any] | None) -> SubmitReceipt:
        return await self._call(
            "submit",
            SubmitRequest(value=value, variable=variable, schema=schema),
            "Validating or converting the answer is slow: submit a "
            "smaller value, or call submit(value) in execute_code, where your timeout applies.",
        )

    async def spawn_agent(
        self, task: str, inputs: list[str] | None, output_schema: dict[str, Any] | None, name: str | None
    ) -> str:
        """Start a sub-agent in the kernel; returns the variable that holds its handle."""
        spawned = await self._call(
            "spawn_agent",
            SpawnAgentRequest(task=task, inputs=inputs, output_schema=output_schema, name=name),
            "Call spawn_agent(...) in execute_code instead, where your timeout applies.",
        )
        return spawned.variable

    async def _call(self, tool: str, request: RuntimeCall[R], advice: str, read_only: bool = False) -> R:
        """Send `request` to the runtime for `tool`, within the call timeout. A refusal is raised as
        RuntimeRefusal, a failure of memex as KernelCallFailed (see `Kernel.call`), a call that does
        not finish in time as ToolInputError. A cancelled read-only call is given up on at once; one
        that changes state gets its full time to finish."""
        async with self._one_at_a_time:
            kernel = await self._kernel()
            deadline = time.monotonic() + self._timeout
            reply = asyncio.ensure_future(kernel.call(request, concurrent=True))
            try:
                await asyncio.wait({reply}, timeout=self._timeout)
            except asyncio.CancelledError:
                with anyio.CancelScope(shield=True):
                    if not read_only:
                        await asyncio.wait({reply}, timeout=max(deadline - time.monotonic(), 0))
                    if not reply.done():
                        await self._settle(kernel, reply)
                raise
            if not reply.done():
                await self._settle(kernel, reply)
                changes = "" if read_only else " It may still take effect when the kernel gets to the end of it."
                raise ToolInputError(
                    f"{tool} did not finish within {self._timeout:g} s; it was left to finish in "
                    f"the background, and nothing else was stopped (a running execution goes on).{changes} {advice}"
                )
            return reply.result()

    @staticmethod
    async def _settle(kernel: Kernel, reply: asyncio.Future[Any]) -> None:
        """Give up on the runtime call `reply`, which has not answered: its subshell is left to finish
        it, and later calls go to a new one. No interrupt: a signal reaches only the kernel's main
        thread, which may be running a cell that is not this call's."""
        reply.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reply
        with contextlib.suppress(Exception):  # a kernel that died is replaced by whoever runs next
            await kernel.replace_subshell()
