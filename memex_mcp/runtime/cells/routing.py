"""Which execution keeps each piece of output, and which reply shows it.

- The running cell's own writes, and those of threads it started, are its output and its reply.
- A thread started by an earlier execution [k] writes into `_outputs[k]` (appended) and is shown in
  the reply that is current, under a line "[output of a thread started in execution [k]]".
- Between cells nobody is waiting for a reply: such output is shown at the start of the next reply,
  under a line saying so. Written by a thread of known origin it is kept with that execution;
  otherwise (a thread of unknown origin, a subprocess writing to a file descriptor) it becomes the
  start of the next execution's output.
Every piece is shown once; what is held for the next reply is bounded (the rest is only kept).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from memex_mcp.runtime.cells.history import History
from memex_mcp.runtime.cells.spool import SpooledText
from memex_mcp.runtime.cells.streams import StreamTee

#: Characters of between-cell output held to show with the next reply.
HELD_CHARS = 20_000

BETWEEN = "[output printed between executions]\n"
#: `_showing` after held output was shown: anything the cell writes next is introduced.
_HELD = -1


def thread_marker(number: int) -> str:
    return f"[output of a thread started in execution [{number}]]\n"


class Router:
    def __init__(self, history: History, spool: Callable[[int], SpooledText], next_number: Callable[[], int]) -> None:
        self._history = history
        self._spool = spool
        self._next_number = next_number
        # Re-entrant: the cell's own thread drains descriptors, which write back through here.
        self._lock = threading.RLock()
        #: The running cell and its output; None between cells.
        self.number: int | None = None
        self._text: SpooledText | None = None
        #: The cell that ended last, until `history` has it.
        self._ended: tuple[int, SpooledText] | None = None
        #: Between cells: output of unknown origin, which the next execution keeps.
        self._unowned: SpooledText | None = None
        #: Between cells: what the next reply shows, with the stream each piece goes to.
        self._held: list[tuple[StreamTee, str]] = []
        self._held_chars = 0
        self._not_held = 0
        self._kept_in: set[int | None] = set()
        #: Whose output was shown (or held) last: None for the cell's own, else a thread's origin.
        self._showing: int | None = None
        self._line_start = True

    def begin(self, number: int) -> SpooledText:
        """Cell `number` starts: the text it keeps, and its reply shows what was held for it."""
        with self._lock:
            text = self._unowned or self._spool(number)
            self._unowned = None
            self.number, self._text, self._ended = number, text, None
            held, self._held, self._held_chars = self._held, [], 0
            for tee, piece in held:
                tee.send(piece)
            if self._not_held and held:
                places = ", ".join(
                    f"_outputs[{n if n is not None else number}]"
                    for n in sorted(self._kept_in, key=lambda n: -1 if n is None else n)
                )
                held[-1][0].send(
                    f"\n[… {self._not_held:,} more characters printed between executions are "
                    f"not shown; they are kept in {places}]\n"
                )
            if held and not held[-1][1].endswith("\n"):
                held[-1][0].send("\n")
            self._not_held, self._kept_in = 0, set()
            # After held output, the cell's own is introduced as such.
            self._showing, self._line_start = (_HELD if held else None), True
            return text

    def end(self) -> SpooledText:
        """The running cell has ended: its text, closed. Later writes are between cells."""
        with self._lock:
            text, number = self._text, self.number
            assert text is not None and number is not None, "end() without begin()"
            self._text = self.number = None
            self._ended = (number, text)
            self._showing, self._line_start = None, True
            text.close()
            return text

    def record(self, text: str) -> None:
        """Text of a display of the running cell (shown by the kernel itself)."""
        with self._lock:
            if self._text is not None:
                self._text.append(text)

    def write(self, tee: StreamTee, text: str, origin: int | None) -> None:
        with self._lock:
            if self._text is not None and origin in (None, self.number):
                self._show(tee, None, text)
                self._text.append(text)
                return
            owner = self._owner(origin)
            if owner is None:
                origin = None
            else:
                owner(text)
            if self._text is not None:
                self._show(tee, origin, text)
            else:
                self._hold(tee, origin, text)

    def _owner(self, origin: int | None) -> Callable[[str], None] | None:
        if origin is None:
            return None
        if self._ended is not None and self._ended[0] == origin:
            return self._ended[1].append
        execution = self._history.by_number(origin)
        return execution.append if execution is not None else None

    def _show(self, tee: StreamTee, origin: int | None, text: str) -> None:
        if origin != self._showing:
            if not self._line_start:
                tee.send("\n")
            if origin is not None:
                tee.send(thread_marker(origin))
            elif self.number is not None:
                tee.send(f"[output of execution [{self.number}]]\n")
            self._showing = origin
        tee.send(text)
        self._line_start = text.endswith("\n")

    def _hold(self, tee: StreamTee, origin: int | None, text: str) -> None:
        if origin is None:
            if self._unowned is None:
                self._unowned = self._spool(self._next_number())
                self._unowned.append(BETWEEN)
            self._unowned.append(text)
        pieces = [text]
        if origin != self._showing or not self._held:
            pieces.insert(0, BETWEEN if origin is None else thread_marker(origin))
            if not self._line_start:
                pieces.insert(0, "\n")
            self._showing = origin
        self._line_start = text.endswith("\n")
        for piece in pieces:
            room = HELD_CHARS - self._held_chars
            if room >= len(piece):
                self._held.append((tee, piece))
                self._held_chars += len(piece)
            else:
                if room > 0:
                    self._held.append((tee, piece[:room]))
                    self._held_chars = HELD_CHARS
                self._not_held += len(piece) - max(room, 0)
                self._kept_in.add(origin)
