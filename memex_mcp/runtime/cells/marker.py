"""Which execute request the kernel began, in a file that outlives a killed kernel.

A kernel that dies leaves the server one question: had it begun the code it was sent? Code it had
begun may be the cause of the death and is never run again; code it had not (a kernel killed while
it still wrote the previous cell's checkpoint) runs on the next kernel. IOPub's `busy` status
cannot settle it, since a kernel killed at once may never deliver its last messages. So before
any of a cell's code runs, the kernel writes the request's msg_id to `marker_path()`,
synchronously: a file written before a SIGKILL survives it.

The server imports `marker_path` too; nothing here loads IPython.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memex_mcp.runtime import touchpoints

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell


#: Names the marker (its `key`) when the server chose the name: a kernel in a pid namespace does
#: not know the pid the server sees. Without it the key is the kernel's pid.
MARKER_ENV = "MEMEX_MARKER"


def marker_path(session_dir: str | Path, key: int | str) -> Path:
    """The marker of the kernel whose key (its pid, unless the server chose one) is `key`; a session's
    kernels follow each other, one per key. The key ends in the pid of a process that lives as long
    as the kernel, so markers of dead kernels can be told apart."""
    return Path(session_dir) / f".executing-{key}"


def install(shell: InteractiveShell, session_dir: str) -> None:
    """Register the hook; call it before any other cell hook, so it runs first."""
    try:
        # Held open and overwritten in place: truncating a file costs about a millisecond on ext4,
        # a fixed-width pwrite a few microseconds.
        key = os.environ.get(MARKER_ENV) or os.getpid()
        fd = os.open(marker_path(session_dir, key), os.O_WRONLY | os.O_CREAT, 0o600)
    except OSError:
        return  # the server then goes by IOPub alone, and never runs code twice when unsure

    def before_cell(info: Any) -> None:
        # Cells of other threads are not the server's request.
        if threading.current_thread() is not threading.main_thread():
            return
        header = touchpoints.current_request(shell)
        if header.get("msg_type") != "execute_request":
            return
        record = str(header.get("msg_id", "")).encode()
        with contextlib.suppress(OSError):
            os.pwrite(fd, record.ljust(max(_WIDTH, len(record))), 0)

    shell.events.register("pre_run_cell", before_cell)


#: Bytes each record takes at least, padded with spaces, so that a shorter one overwrites a longer.
_WIDTH = 256


def read_marker(path: Path) -> str | None:
    """The msg_id a marker names, or None if there is none."""
    try:
        return path.read_bytes().decode(errors="replace").strip() or None
    except OSError:
        return None
