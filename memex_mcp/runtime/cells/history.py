"""`history` and `_outputs`: every execution of the session with its full, untruncated output.

An output too big to keep in memory lives in a file of the session (see `spool`): `.output` and
`_outputs[n]` read it back when asked, and a history line holds only where it is.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from memex_mcp.runtime.cells.spool import SpooledText
from memex_mcp.text import shorten


class ExecutionRecord:
    """One execution: `number`, `code`, `output` (the full text), `failed`, `seconds`, `output_file`."""

    def __init__(self, number: int, code: str, output: str | SpooledText, failed: bool, seconds: float) -> None:
        self.number = number
        self.code = code
        self._text = output if isinstance(output, SpooledText) else SpooledText(text=output)
        self.failed = failed
        self.seconds = seconds

    @property
    def output(self) -> str:
        return self._text.read()

    @property
    def output_file(self) -> str | None:
        """Where a big output is kept (read it from there in parts); None for one kept in memory."""
        path = self._text.file
        return str(path) if path is not None else None

    def append(self, text: str) -> None:
        """More output of this execution, written after it ended (by a thread it started)."""
        self._text.append(text)

    def to_record(self) -> dict[str, Any]:
        """One line of the saved history: small, whatever the output's size."""
        return {
            "number": self.number,
            "code": self.code,
            **self._text.to_record(),
            "failed": self.failed,
            "seconds": self.seconds,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any], root: Path) -> ExecutionRecord:
        """The execution a `to_record` line describes; an output kept in a file (under `root`, the
        session dir) is read when asked. Raises KeyError or TypeError for a line that is not one."""
        file = record.get("output_file")
        if file is None:
            text = SpooledText(text=record["output"])
        else:
            text = SpooledText.in_file(root, str(file), int(record["output_chars"]), int(record["output_bytes"]))
        return cls(int(record["number"]), record["code"], text, bool(record["failed"]), float(record["seconds"]))

    def __repr__(self) -> str:
        # What `history[i]` shows: an execution, as the prelude's catalog calls it.
        return f"<Execution [{self.number}] {_first_line(self.code)!r} → {self._text.describe()}>"


class History:
    """This session's executions in order. `history[-1].output` is the last full output."""

    def __init__(self) -> None:
        self._items: list[ExecutionRecord] = []
        self._numbers: dict[int, ExecutionRecord] = {}

    def append(self, execution: ExecutionRecord) -> None:
        self._items.append(execution)
        self._numbers[execution.number] = execution

    def by_number(self, number: int) -> ExecutionRecord | None:
        return self._numbers.get(number)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[ExecutionRecord]:
        return iter(self._items)

    def __getitem__(self, index: int) -> ExecutionRecord:
        return self._items[index]

    def find(self, text: str) -> list[ExecutionRecord]:
        """The executions whose code or output contains `text`."""
        return [e for e in self._items if text in e.code or text in e.output]

    def __repr__(self) -> str:
        lines = [f"history: {len(self)} executions (history[i].code, .output; history.find(text))"]
        for e in self._items[-10:]:
            mark = " (error)" if e.failed else ""
            lines.append(f"  [{e.number}] {_first_line(e.code)!r} → {e._text.describe()}{mark}")
        return "\n".join(lines)


class Outputs(Mapping[int, str]):
    """`_outputs`: execution number → its full output text, read from `history`."""

    def __init__(self, history: History) -> None:
        self._history = history

    def __getitem__(self, number: int) -> str:
        execution = self._history.by_number(number)
        if execution is None:
            raise KeyError(number)
        return execution.output

    def __iter__(self) -> Iterator[int]:
        return (e.number for e in list(self._history))

    def __len__(self) -> int:
        return len(self._history)

    def __repr__(self) -> str:
        numbers = list(self)
        if not numbers:
            return "_outputs: {} (no executions yet)"
        return (
            f"_outputs: full output text of executions {numbers[0]}…{numbers[-1]} "
            f"({len(numbers)} in all), e.g. _outputs[{numbers[-1]}]"
        )


def _first_line(code: str, width: int = 60) -> str:
    return shorten(code.strip().splitlines()[0] if code.strip() else "", width)
