"""The kernel's memory limit, set by the kernel on itself before any user code runs."""

from __future__ import annotations

import contextlib


def apply_memory_limit(limit: int | None) -> None:
    """Cap the address space (RLIMIT_AS, soft and hard, so cells cannot raise it again).

    An allocation beyond it fails: Python raises MemoryError and the kernel lives on; a C library
    that does not check for failed allocations may crash the kernel, which the server then
    restarts and restores. Subprocesses of the kernel inherit the limit.
    """
    if limit is None:
        return
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
