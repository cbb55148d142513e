"""Restoring a new kernel from the session's checkpoint, and the sentence the model reads about it."""

from __future__ import annotations

import anyio

from memex_mcp.protocol import RestoreEnded, RestoreReport, RestoreRequest, Unrestored
from memex_mcp.server.errors import KernelCallFailed, RuntimeRefusal
from memex_mcp.server.kernel import Kernel, KernelDied

#: How a restore that did not finish ended its kernel; the next kernel is told (`restore`).
Ended = RestoreEnded
#: The whole restore may take this many times the per-variable time before the kernel is replaced.
CALL_FACTOR = 10
_SHOWN = 20
IN_USE = (
    "session {name} is in use by another memex-mcp process: this one writes no checkpoints, so its "
    "variables will not come back after a restart. Use another --session name to keep them."
)


class RestoreStuck(KernelDied):
    """The kernel did not finish restoring in time (a read stuck in C code): replace it."""


async def restore(kernel: Kernel, last_attempt: Ended | None, seconds: float) -> RestoreReport:
    """Load the last checkpoint into `kernel`, each variable within `seconds`, the whole within
    CALL_FACTOR times that. `last_attempt`: how the previous kernel's restore ended it, if it did.
    A failure of the runtime is reported, not raised; a kernel that dies raises KernelDied, one
    that does not answer in time RestoreStuck."""
    limit = CALL_FACTOR * seconds
    try:
        with anyio.fail_after(limit):
            return await kernel.call(RestoreRequest(last_attempt=last_attempt))
    except TimeoutError:
        raise RestoreStuck(f"restoring the checkpoint did not finish within {limit:g} s") from None
    except (KernelCallFailed, RuntimeRefusal) as exc:
        return RestoreReport(found=True, unrestored=[Unrestored(name="*", type="checkpoint", reason=str(exc))])


def describe(report: RestoreReport) -> str:
    """What came back, for a kernel that replaced a dead one: '… restored …; not restored: …'."""
    if not report.found:
        return "there was no checkpoint to restore, so its variables are gone"
    if not report.restored and not report.unrestored:
        return "the checkpoint held no variables, so the scope is empty"
    parts = []
    if report.restored:
        parts.append(f"restored the variables as of execution [{report.execution_count}]: {_names(report.restored)}")
    else:
        parts.append("no variable could be restored")
    if report.unrestored:
        parts.append("not restored: " + _unrestored(report.unrestored))
    return "; ".join(parts)


def describe_session(name: str, report: RestoreReport) -> str:
    """The first result of a named session that came back: 'restored session NAME: …'."""
    restored = f"{len(report.restored)} variable(s)" + (f" ({_names(report.restored)})" if report.restored else "")
    text = (
        f"restored session {name}: {restored} and {report.history} execution(s) of history, "
        f"as of execution [{report.execution_count}]; tables are kept in its database"
    )
    if report.unrestored:
        text += "; not restored: " + _unrestored(report.unrestored)
    return text + "."


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def _unrestored(items: list[Unrestored]) -> str:
    shown = "; ".join(f"{u.reason}" if u.name == "*" else f"{u.name} ({u.type}: {u.reason})" for u in items[:_SHOWN])
    return shown + (f"; and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")
