"""`trajectories(path_or_session)`: eval runs and sessions' executions as objects to read in code.

An eval's `--out` dir (or its `trajectories.jsonl`) loads as `Runs`, one `Run` per task-run (the
newest record of each), with its turns as `Step`s: the code a step ran (`execute_code`'s code, or
the SQL of a `sql` call), the output it got, its tokens. A session (a name under this state dir's
`sessions/`, or a session's directory) loads as `Executions`: what its `history` saved, read from
its checkpoint's `history.jsonl` without touching the session (it may be running).

Both collections are lists: they print as a compact table, filter with `.where(field=value, …)` or
`.where(predicate)`, group with `.by(field)` (`.by_task()` for runs) and become a DataFrame with
`.to_frame()`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from memex_mcp.records import TaskRun, Turn
from memex_mcp.runtime.cells.history import ExecutionRecord
from memex_mcp.text import shorten

#: The file an eval writes into its `--out` dir.
TRAJECTORIES = "trajectories.jsonl"
#: Where a session's saved history is, relative to its dir.
SESSION_HISTORY = Path("checkpoint") / "history.jsonl"
_TABLE_ROWS = 20

T = TypeVar("T", bound="_Item")


class TrajectoryError(ValueError):
    """What was passed to `trajectories()` is not something it can load; the message says what to pass."""


class _Item:
    def row(self) -> dict[str, Any]:
        raise NotImplementedError


class Step(_Item):
    """One model call of a run and what its tool calls returned."""

    def __init__(self, turn: Turn) -> None:
        self.index = turn.index
        self.text = turn.text
        self.tool_calls: list[dict[str, Any]] = [{"name": c.name, "arguments": c.arguments} for c in turn.tool_calls]
        self.results = [r.text for r in turn.results]
        self.errors = [r.is_error for r in turn.results]
        #: The code the step ran: `execute_code`'s code (memex) or the SQL of `sql` calls (tools).
        self.code = "\n\n".join(_code_of(c.name, c.arguments) for c in turn.tool_calls if _code_of(c.name, c.arguments))
        self.output = "\n\n".join(self.results)
        self.input_tokens = turn.input_tokens
        self.output_tokens = turn.output_tokens
        self.tokens = turn.input_tokens + turn.output_tokens
        self.chars_in = turn.chars_in
        self.seconds = turn.seconds
        self.turn = turn

    def row(self) -> dict[str, Any]:
        calls = ", ".join(c["name"] for c in self.tool_calls) or "(no tool call)"
        return {
            "step": self.index,
            "calls": calls,
            "code": _line(self.code),
            "output": _line(self.output),
            "tokens": self.tokens,
        }

    def __repr__(self) -> str:
        calls = ", ".join(c["name"] for c in self.tool_calls) or "no tool call"
        what = f" {_line(self.code)!r}" if self.code else (f" {_line(self.text)!r}" if self.text else "")
        error = " (error)" if any(self.errors) else ""
        return f"<Step {self.index}: {calls}{what} → {len(self.output):,} chars{error}, {self.tokens:,} tokens>"


class Run(_Item):
    """One task-run of an eval: `task, harness, model, run, question, expected, answer, correct,
    verdict, stop, error, tokens, cost, turns` (a list of `Step`); `record` is the saved record."""

    def __init__(self, record: TaskRun, blind: bool = False) -> None:
        #: None when blind: the record holds the expected answer.
        self.record: TaskRun | None = None if blind else record
        self.suite = record.suite
        self.task = record.task
        self.harness = record.harness
        self.model = record.model
        self.run = record.run
        self.question = record.question
        self.answer = record.answer
        self.stop = record.stop
        self.error = record.error
        #: None when loaded with `blind=True`: the expected answer and the scoring are hidden.
        self.expected: str | None = None if blind else record.expected
        self.correct: bool | None = None if blind else record.correct
        self.verdict: str | None = None if blind else record.verdict
        self.input_tokens = record.input_tokens
        self.output_tokens = record.output_tokens
        self.tokens = record.input_tokens + record.output_tokens
        self.cost = record.cost_usd
        self.seconds = record.wall_seconds
        self.turns = [Step(t) for t in record.turns]

    def row(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "harness": self.harness,
            "model": self.model,
            "run": self.run,
            "answer": _line(self.answer or "", 30),
            "correct": self.correct,
            "stop": self.stop,
            "turns": len(self.turns),
            "tokens": self.tokens,
            "cost": self.cost,
        }

    def __repr__(self) -> str:
        outcome = {True: "right", False: "wrong", None: "unscored"}[self.correct]
        if self.stop != "answered":
            outcome += f", {self.stop}"
        cost = "cost unknown" if self.cost is None else f"${self.cost:.4f}"
        answer = _line(self.answer or "", 30)
        return (
            f"<Run {self.harness} {self.task} #{self.run} {self.model}: {outcome}, answer {answer!r}"
            f" ({len(self.turns)} turns, {self.tokens:,} tokens, {cost})>"
        )


class Execution(_Item):
    """One execution of a session: `number, code, output, failed, error, seconds` (`output` is the
    full text; a big one is read from its file when asked)."""

    def __init__(self, record: ExecutionRecord, session: str) -> None:
        self._record = record
        self.session = session
        self.number = record.number
        self.code = record.code
        self.failed = record.failed
        self.seconds = record.seconds

    @property
    def output(self) -> str:
        return self._record.output

    @property
    def error(self) -> str | None:
        """The last line of a failed execution's output (its exception), None if it did not fail."""
        if not self.failed:
            return None
        lines = [line for line in self.output.splitlines() if line.strip()]
        return lines[-1] if lines else "failed"

    def row(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "code": _line(self.code),
            "output": _line(self.output),
            "failed": self.failed,
            "seconds": round(self.seconds, 3),
        }

    def __repr__(self) -> str:
        mark = f" (error: {_line(self.error or '', 40)})" if self.failed else ""
        return f"<Execution {self.session}[{self.number}] {_line(self.code)!r} → {len(self.output):,} chars{mark}>"


class Collection(list[T], Generic[T]):
    """A list of runs or executions that prints as a table and filters by field."""

    def __init__(self, items: Iterable[T] = (), source: str = "", note: str = "") -> None:
        super().__init__(items)
        self.source = source
        #: What was skipped while loading (corrupt lines), said once in the table's header.
        self.note = note

    def where(self, predicate: Callable[[T], bool] | None = None, /, **fields: Any) -> Collection[T]:
        """The items whose fields equal `fields` (a list or set given matches any of its values), and
        for which `predicate(item)` is true."""
        for name in fields:
            if self and not all(hasattr(item, name) for item in self):
                raise AttributeError(f"no field {name!r}; the fields are {', '.join(self[0].row())}, …")

        def keep(item: T) -> bool:
            for name, wanted in fields.items():
                value = getattr(item, name)
                if value != wanted and not (isinstance(wanted, list | set | tuple) and value in wanted):
                    return False
            return predicate is None or predicate(item)

        return Collection([i for i in self if keep(i)], self.source, self.note)

    def by(self, field: str) -> dict[Any, Collection[T]]:
        """The items grouped by one field's value, in first-seen order."""
        groups: dict[Any, Collection[T]] = {}
        for item in self:
            groups.setdefault(getattr(item, field), Collection(source=self.source)).append(item)
        return groups

    def by_task(self) -> dict[Any, Collection[T]]:
        """Runs grouped by task."""
        return self.by("task")

    def to_frame(self) -> Any:
        """A pandas DataFrame, one row per item (the table's columns, text in full)."""
        import pandas as pd

        return pd.DataFrame([_full_row(item) for item in self])

    def __repr__(self) -> str:
        kind = type(self[0]).__name__.lower() + "s" if self else "items"
        head = f"{len(self)} {kind}" + (f" from {self.source}" if self.source else "")
        lines = [head + (f" ({self.note})" if self.note else "")]
        if not self:
            return lines[0]
        rows = [item.row() for item in self[:_TABLE_ROWS]]
        columns = list(rows[0])
        cells = [[_cell(r[c]) for c in columns] for r in rows]
        widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
        lines.append("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
        lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
        if len(self) > _TABLE_ROWS:
            lines.append(f"… {len(self) - _TABLE_ROWS} more: .where(…), [i], .to_frame()")
        return "\n".join(lines)

    def __getitem__(self, index: Any) -> Any:
        got = super().__getitem__(index)
        return Collection(got, self.source, self.note) if isinstance(index, slice) else got


def bind(session_dir: str) -> Callable[..., Collection[Any]]:
    """The prelude's `trajectories`, for the session in `session_dir`."""

    def trajectories(path_or_session: str | Path, blind: bool = False) -> Collection[Any]:
        """Eval runs or a session's executions as objects: pass an eval's --out dir or its
        trajectories.jsonl (→ runs), or a session's name or directory (→ its executions).
        `blind=True` hides runs' expected answers and verdicts."""
        loaded = load(path_or_session, Path(session_dir), blind)
        if loaded.note and loaded.note != "nothing saved yet":
            print(f"trajectories: {loaded.note} of {loaded.source}")
        return loaded

    return trajectories


def load(target: str | Path, session_dir: Path, blind: bool = False) -> Collection[Any]:
    """What `target` names, seen from the session in `session_dir`; see the module's doc."""
    if not isinstance(target, str | Path):
        raise TrajectoryError(
            f"trajectories() takes a path or a session name, not {type(target).__name__}: pass an eval's --out "
            "dir, a trajectories.jsonl file, a session's name or a session's directory"
        )
    sessions = session_dir.parent
    text = str(target)
    looks_like_path = isinstance(target, Path) or "/" in text or text.endswith(".jsonl") or text in (".", "..")
    path = Path(text).expanduser()
    try:
        if not looks_like_path and (sessions / text).is_dir():
            return _executions(sessions / text, text)
        if path.is_file() and path.name == SESSION_HISTORY.name and path.parent.name == SESSION_HISTORY.parent.name:
            return _executions(path.parent.parent, path.parent.parent.name)
        if path.is_file():
            return _runs(path, blind)
        if (path / TRAJECTORIES).is_file():
            return _runs(path / TRAJECTORIES, blind)
        if (path / SESSION_HISTORY).is_file() or (path / "checkpoint").is_dir():
            return _executions(path, path.name)
        if path.is_dir() and path.name == "checkpoint" and (path / "history.jsonl").is_file():
            return _executions(path.parent, path.parent.name)
    except PermissionError as exc:
        raise TrajectoryError(
            f"trajectories({text!r}): this scratchpad may not read {exc.filename or text} (it is confined with "
            "--sandbox: it reads only its own session dir and the data dirs). Put the eval's --out dir under a data "
            "dir (--data-dir) and pass its path there; another session's history is out of reach of a confined "
            "scratchpad: read it from a server started without --sandbox"
        ) from None
    if not looks_like_path:
        # HTTP scratchpads (`sp-…`) belong to principals this kernel does not know: not listed.
        named: list[str] = []
        with contextlib.suppress(OSError):  # a confined scratchpad cannot list the sessions
            named = sorted(p.name for p in sessions.iterdir() if p.is_dir() and not p.name.startswith((".", "sp-")))
        raise TrajectoryError(
            f"trajectories({text!r}): no session named {text!r} under {sessions}; the named sessions are "
            f"{', '.join(named) or 'none'}. Pass a session's name, a session's directory, an eval's --out dir or "
            "its trajectories.jsonl"
        )
    what = "does not exist" if not path.exists() else "is neither an eval's --out dir nor a session's directory"
    raise TrajectoryError(
        f"trajectories({text!r}): {path} {what}. Pass an eval's --out dir (it holds {TRAJECTORIES}), that file, a "
        "session's name, or a session's directory (it holds checkpoint/history.jsonl)"
    )


def _runs(path: Path, blind: bool) -> Collection[Run]:
    by_key: dict[tuple[str, str, str, int], TaskRun] = {}
    bad = 0
    for line in path.read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            record = TaskRun.model_validate_json(line)
        except ValidationError:
            bad += 1
            continue
        by_key[record.key] = record  # a task-run run again (after an error) keeps its newest record
    if bad and not by_key:
        raise TrajectoryError(
            f"trajectories({str(path)!r}): none of its {bad} lines is a task-run record of `memex-mcp eval`. Pass "
            f"an eval's --out dir or its {TRAJECTORIES}, or a session's name or directory"
        )
    note = f"skipped {bad} corrupt line{'s' * (bad != 1)}" if bad else ""
    return Collection([Run(r, blind) for r in by_key.values()], str(path), note)


def _executions(directory: Path, name: str) -> Collection[Execution]:
    path = directory / SESSION_HISTORY
    if not path.is_file():
        return Collection(source=str(directory), note="nothing saved yet")
    items: list[Execution] = []
    bad = 0
    for line in path.read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            items.append(Execution(ExecutionRecord.from_record(json.loads(line), directory), name))
        except (ValueError, KeyError, TypeError):
            bad += 1
    note = f"skipped {bad} corrupt line{'s' * (bad != 1)}" if bad else ""
    return Collection(items, str(directory), note)


def _code_of(tool: str, arguments: dict[str, Any]) -> str:
    if tool == "execute_code":
        return str(arguments.get("code", ""))
    if tool == "sql":
        return str(arguments.get("query", ""))
    return ""


def _line(text: str, width: int = 50) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    more = "…" if len(text.strip().splitlines()) > 1 and not first.endswith("…") else ""
    return shorten(first, width) + more


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _full_row(item: Any) -> dict[str, Any]:
    row: dict[str, Any] = item.row()
    for name in ("code", "output", "answer"):
        if name in row:
            row[name] = getattr(item, name)
    if isinstance(item, Run):
        row |= {"expected": item.expected, "verdict": item.verdict, "error": item.error, "question": item.question}
    if isinstance(item, Execution):
        row["error"] = item.error
    return row
