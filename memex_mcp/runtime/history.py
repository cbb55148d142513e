"""`history` and `_outputs`: every execution of the session with its full, untruncated output."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Execution:
    number: int
    code: str
    output: str
    failed: bool
    seconds: float

    def __repr__(self) -> str:
        return f"<Execution [{self.number}] {_first_line(self.code)!r} → {len(self.output):,} chars>"


class History:
    """This session's executions in order. `history[-1].output` is the last full output."""

    def __init__(self) -> None:
        self._items: list[Execution] = []

    def append(self, execution: Execution) -> None:
        self._items.append(execution)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Execution]:
        return iter(self._items)

    def __getitem__(self, index: int) -> Execution:
        return self._items[index]

    def find(self, text: str) -> list[Execution]:
        """The executions whose code or output contains `text`."""
        return [e for e in self._items if text in e.code or text in e.output]

    def __repr__(self) -> str:
        lines = [f"history: {len(self)} executions (history[i].code, .output; history.find(text))"]
        for e in self._items[-10:]:
            mark = " (error)" if e.failed else ""
            lines.append(f"  [{e.number}] {_first_line(e.code)!r} → {len(e.output):,} chars{mark}")
        return "\n".join(lines)


def _first_line(code: str, width: int = 60) -> str:
    line = code.strip().splitlines()[0] if code.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"
