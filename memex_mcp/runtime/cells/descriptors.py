"""Output written to file descriptors 1 and 2 (subprocesses, C libraries, `os.write`) as cell output.

Each descriptor is pointed at a pipe. A thread forwards what arrives to the kernel's stream, and
at the end of a cell the kernel's own thread drains the pipe itself, under the same lock: no bytes
written during a cell can arrive after its result, and no thread hand-off is needed to know it.
(ipykernel's own capture, switched off for these kernels, can only wait for its thread to catch up.)
"""

from __future__ import annotations

import codecs
import os
import select
import threading
from collections.abc import Callable

from memex_mcp.runtime.cells.streams import own_thread

_CHUNK = 65536


class DescriptorCapture:
    def __init__(self, fd: int, forward: Callable[[str], object]) -> None:
        self._fd = fd
        self._forward = forward
        self._lock = threading.Lock()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        read, write = os.pipe()
        os.set_blocking(read, False)
        os.dup2(write, fd)  # children inherit the pipe as their stdout/stderr
        os.close(write)
        self._read = read
        own_thread(self._pump, f"memex-fd{fd}")  # its writes are the running cell's, not its starter's

    def drain(self) -> None:
        """Forward everything written to the descriptor so far."""
        with self._lock:
            self._move()

    def _pump(self) -> None:
        while True:
            select.select([self._read], [], [])
            with self._lock:
                if not self._move():
                    return  # every write end is closed: the process is going away

    def _move(self) -> bool:
        """Forward what is in the pipe now; False once the pipe is closed."""
        while True:
            try:
                data = os.read(self._read, _CHUNK)
            except BlockingIOError:
                return True
            if not data:
                return False
            text = self._decoder.decode(data)
            if text:
                self._forward(text)
