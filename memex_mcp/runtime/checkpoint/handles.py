"""Operating-system handles in a checkpoint: open files come back open, the rest is refused by name.

A file opened on a path is saved as (path, mode, position, encoding), never with its content, and
reopened on restore in a mode that does not truncate: 'w', 'w+' and 'x' come back as 'r+' (the
same for binary modes), 'a' as 'a', 'r' and 'r+' as they were, each at the position it had. Before
the position is taken, what the file buffers is flushed to the OS, so the position and the file's
content agree. A closed file comes back closed, with its name and mode. A file that was deleted
since fails to load, and the restore says so. Sockets, pipes, terminals, descriptors without a path
and subprocess handles cannot come back: pickling one raises `NotRestorable`, with what to do.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from typing import IO, Any

_FILE_TYPES = (io.TextIOWrapper, io.BufferedReader, io.BufferedWriter, io.BufferedRandom, io.FileIO)


class NotRestorable(Exception):
    """An object that no checkpoint can bring back; `reason` says what it is and what to do."""

    def __init__(self, obj: Any, reason: str) -> None:
        super().__init__(reason)
        self.obj = obj
        self.reason = reason


def reduce_handle(obj: Any) -> tuple[Any, tuple[Any, ...]] | None:
    """How to pickle `obj` if it is an OS handle (raising NotRestorable if it cannot be); None if it is not."""
    if isinstance(obj, socket.socket):
        raise NotRestorable(obj, "an open socket: network connections do not survive their kernel; connect again")
    if isinstance(obj, subprocess.Popen):
        raise NotRestorable(obj, "a subprocess handle: the process is not the new kernel's child; start it again")
    if isinstance(obj, _FILE_TYPES) and obj not in (sys.stdin, sys.stdout, sys.stderr):
        return _reduce_file(obj)
    return None


def _reduce_file(file: Any) -> tuple[Any, tuple[Any, ...]]:
    name, mode = getattr(file, "name", None), getattr(file, "mode", None)
    if not isinstance(name, str) or not isinstance(mode, str):
        raise NotRestorable(file, f"an open file descriptor ({name!r}) without a path: open the file again")
    text = isinstance(file, io.TextIOWrapper)
    encoding = file.encoding if text else None
    errors = file.errors if text else None
    unbuffered = isinstance(file, io.FileIO)
    if file.closed:
        return closed_file, (name, mode, text, unbuffered)
    if file.isatty() or not file.seekable():
        raise NotRestorable(file, f"an open pipe or device ({name}): open it again")
    if file.writable():
        file.flush()  # the position saved must be where the file's content ends up
    try:
        position = file.tell()
    except OSError as exc:  # a text file in the middle of `for line in file`
        raise NotRestorable(
            file, f"an open file ({name}) whose position cannot be read ({exc}): open it again"
        ) from None
    return reopen, (os.path.abspath(name), mode, position, encoding, errors, unbuffered)


def reopen(path: str, mode: str, position: int, encoding: str | None, errors: str | None, unbuffered: bool) -> IO[Any]:
    """The file at `path` open again, without truncating it, where it was."""
    plus = "+" in mode or "w" in mode or "x" in mode
    again = ("a" if "a" in mode else "r") + ("+" if plus else "") + ("b" if "b" in mode else "")
    if unbuffered:
        file: IO[Any] = open(path, again, buffering=0)  # noqa: SIM115 (the restored variable owns it)
    else:
        file = open(path, again, encoding=encoding, errors=errors)  # noqa: SIM115
    if "a" not in again:
        file.seek(position)
    return file


def closed_file(path: str, mode: str, text: bool, unbuffered: bool) -> IO[Any]:
    """A closed file object named `path`, as the one that was saved (nothing is opened)."""
    raw = io.FileIO(os.devnull, "r")
    raw.name = path  # FileIO keeps its name as a plain attribute
    file: Any = raw if unbuffered else io.BufferedReader(raw)
    if text:
        file = io.TextIOWrapper(file)
        file.mode = mode  # binary files take their mode from the raw file, which is read-only
    file.close()
    return file  # type: ignore[no-any-return]
