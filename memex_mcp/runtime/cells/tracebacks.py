"""Short tracebacks: only the frames of the user's own code, ending in `Type: message`.

One trimmer for cells and for sub-agents' code alike; each names its own code's files (`Cell [3]`,
`turn 2`).

The last line is Python's own (`traceback.TracebackException`), so it keeps what Python adds to it:
"Did you mean: 'revenue'?" on a NameError or AttributeError. Hints registered in `HINTS` may add a
next step for errors whose message alone does not give one (a KeyError on a DataFrame's columns).
"""

from __future__ import annotations

import difflib
import linecache
import sys
import traceback
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from memex_mcp.text import listed

#: Python's own cut-off: the same frame this many times in a row, then "[Previous line repeated …]".
_RECURSIVE_CUTOFF = 3
#: Longest list of names a hint shows.
_NAMES_CHARS = 400
#: Longest cycle of frames (mutual recursion) that is counted instead of shown.
_LONGEST_CYCLE = 4

#: Extra lines for an error, appended after `Type: message`: each gets the error, returns a line or None.
HINTS: list[Callable[[BaseException], str | None]] = []


def short_traceback(error: BaseException, cell_files: Mapping[str, int]) -> str:
    """`trimmed` for an error of a cell (`cell_files`: filename → execution number)."""
    return trimmed(error, lambda filename: f"Cell [{cell_files[filename]}]" if filename in cell_files else None)


def trimmed(error: BaseException, place: Callable[[str], str | None]) -> str:
    """Format `error` keeping the frames of the user's own code: `place(filename)` names the code a
    file holds ("Cell [3]"), or is None for a file that is not the user's.

    Library frames are dropped: the model can only fix its own code, and IPython's verbose
    tracebacks cost thousands of characters. A frame repeated more than three times in a row (a
    runaway recursion) is shown three times and then counted, as Python does.
    """
    if isinstance(error, SyntaxError) and (label := place(error.filename or "")) is not None:
        return _syntax_error(error, label)
    frames = []
    for frame in traceback.extract_tb(error.__traceback__):
        label = place(frame.filename)
        if label is None:
            continue
        line = (frame.line or linecache.getline(frame.filename, frame.lineno or 0)).strip()
        frames.append(f"  {label}, line {frame.lineno}, in {frame.name}\n    {line}")
    tail = _public_name(_last_line(error), type(error))
    hints = [hint for hint in (_hint(h, error) for h in [_missing_column, *HINTS]) if hint]
    if hints:
        tail = "\n".join([tail, *hints])
    if not frames:
        return tail
    return "Traceback (most recent call last):\n" + "\n".join(_collapse(frames)) + "\n" + tail


def _last_line(error: BaseException) -> str:
    """Python's `Type: message`, with its "Did you mean" for a misspelt name or attribute."""
    try:
        exception = traceback.TracebackException.from_exception(error, limit=1, lookup_lines=False)
        line = "".join(exception.format_exception_only()).rstrip()
    except Exception:  # a broken __str__ must not cost the model the rest of the report
        return "".join(traceback.format_exception_only(type(error), error)).rstrip()
    if sys.version_info < (3, 12) and "Did you mean" not in line:
        suggestion = _suggestion(error)
        if suggestion is not None:
            line += f". Did you mean: {suggestion!r}?"
    return line


def _suggestion(error: BaseException) -> str | None:
    """The closest name, as Python 3.12's `TracebackException` suggests it; 3.11 does it only when
    the interpreter itself prints the error, which no kernel does."""
    name = getattr(error, "name", None)
    if not isinstance(name, str) or not isinstance(error, (NameError, AttributeError)):
        return None
    if f"'{name}'" not in str(error):  # a library's own message, which may already say what to do
        return None
    if isinstance(error, AttributeError):
        candidates = dir(error.obj)
    else:
        tb = error.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        if tb is None:
            return None
        frame = tb.tb_frame
        candidates = [*frame.f_locals, *frame.f_globals, *frame.f_builtins]
    close = difflib.get_close_matches(name, [c for c in set(candidates) if not c.startswith("_")], n=1)
    return close[0] if close else None


def _collapse(frames: list[str]) -> list[str]:
    """A frame repeated in a row is shown three times and then counted, as Python does; a cycle of a
    few frames (`f` calls `g` calls `f`) is shown once and then counted."""
    kept: list[str] = []
    i = 0
    while i < len(frames):
        for period in range(1, _LONGEST_CYCLE + 1):
            block = frames[i : i + period]
            times = 1
            while frames[i + times * period : i + (times + 1) * period] == block:
                times += 1
            shown = _RECURSIVE_CUTOFF if period == 1 else 1
            if len(block) == period and times > shown:
                kept += block * shown
                more = times - shown
                what = "line" if period == 1 else f"{period} frames"
                kept.append(f"  [Previous {what} repeated {more} more time{'s' if more > 1 else ''}]")
                i += times * period
                # A recursion stops anywhere in its cycle: the frames of the unfinished last round are
                # part of the repetition, not new frames.
                partial = 0
                while period > 1 and partial < period - 1 and frames[i : i + 1] == block[partial : partial + 1]:
                    i, partial = i + 1, partial + 1
                break
        else:
            kept.append(frames[i])
            i += 1
    return kept


def _hint(hint: Callable[[BaseException], str | None], error: BaseException) -> str | None:
    try:
        return hint(error)
    except Exception:  # a hint is a courtesy; the error itself must always be reported
        return None


def _missing_column(error: BaseException) -> str | None:
    """For `df['revnue']`: the DataFrame's columns, and the closest one."""
    if type(error) is not KeyError or not error.args:
        return None
    frame = _getitem_of_a_frame(error.__traceback__)
    if frame is None:
        return None
    columns = [str(c) for c in frame.columns]
    key = error.args[0]
    line = f"The DataFrame's columns are: {listed(columns, _NAMES_CHARS)}."
    if isinstance(key, str):
        close = difflib.get_close_matches(key, columns, n=1) or [c for c in columns if c.lower() == key.lower()]
        if close:
            line += f" Did you mean {close[0]!r}?"
    return line


def _getitem_of_a_frame(tb: TracebackType | None) -> Any:
    """The DataFrame whose `__getitem__` raised, found in the traceback's frames (None if none did)."""
    pandas = sys.modules.get("pandas")
    if pandas is None:
        return None
    found = None
    while tb is not None:
        frame = tb.tb_frame
        owner = frame.f_locals.get("self")
        if frame.f_code.co_name == "__getitem__" and isinstance(owner, pandas.DataFrame):
            found = owner
        tb = tb.tb_next
    return found


def _public_name(tail: str, kind: type[BaseException]) -> str:
    """`_duckdb.ParserException: …` → `duckdb.ParserException: …`: the name the model can import."""
    module = kind.__module__
    public = module.lstrip("_")
    if module.startswith("_") and getattr(sys.modules.get(public), kind.__qualname__, None) is kind:
        return tail.replace(f"{module}.{kind.__qualname__}", f"{public}.{kind.__qualname__}", 1)
    return tail


def _syntax_error(error: SyntaxError, label: str) -> str:
    text = (error.text or "").rstrip("\n")
    lines = [f"  {label}, line {error.lineno}", f"    {text.strip()}"]
    if error.offset and text:
        indent = len(text) - len(text.lstrip())
        lines.append("    " + " " * max(error.offset - 1 - indent, 0) + "^")
    lines.append(f"{type(error).__name__}: {error.msg}")
    return "\n".join(lines)
