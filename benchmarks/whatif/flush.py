"""Kernel extension: a flush of stdout or stderr with nothing written since the last one returns at once.

ipykernel flushes both streams twice per execute request (after the cell, and after the
handler), and each flush is a round trip to its IOPub thread (two scheduled callbacks and an
Event wait) even when nothing was written: three of the four are empty for `print(1)`. memex's
StreamTee sees every write, so it could keep this flag itself.
"""

from __future__ import annotations

import sys
from typing import Any


def load_ipython_extension(shell: Any) -> None:
    for stream in (sys.stdout, sys.stderr):
        _skip_empty_flush(stream)


def _skip_empty_flush(stream: Any) -> None:
    write, flush = stream.write, stream.flush
    written = [False]

    def tracked_write(text: str) -> Any:
        written[0] = True
        return write(text)

    def lazy_flush() -> None:
        # Output that races past this check is still sent by ipykernel's own flush timer.
        if written[0]:
            written[0] = False
            flush()

    stream.write, stream.flush = tracked_write, lazy_flush
