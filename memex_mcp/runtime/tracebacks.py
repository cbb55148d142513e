"""Short tracebacks: only the frames of the user's own cells, ending in `Type: message`."""

from __future__ import annotations

import linecache
import sys
import traceback
from collections.abc import Mapping


def short_traceback(error: BaseException, cell_files: Mapping[str, int]) -> str:
    """Format `error` keeping the frames whose file is a cell (`cell_files`: filename → number).

    Library frames are dropped: the model can only fix its own code, and IPython's verbose
    tracebacks cost thousands of characters.
    """
    if isinstance(error, SyntaxError) and error.filename and error.filename in cell_files:
        return _syntax_error(error, cell_files[error.filename])
    frames = []
    for frame in traceback.extract_tb(error.__traceback__):
        number = cell_files.get(frame.filename)
        if number is None:
            continue
        line = (frame.line or linecache.getline(frame.filename, frame.lineno or 0)).strip()
        frames.append(f"  Cell [{number}], line {frame.lineno}, in {frame.name}\n    {line}")
    tail = _public_name("".join(traceback.format_exception_only(type(error), error)).rstrip(), type(error))
    if not frames:
        return tail
    return "Traceback (most recent call last):\n" + "\n".join(frames) + "\n" + tail


def _public_name(tail: str, kind: type[BaseException]) -> str:
    """`_duckdb.ParserException: …` → `duckdb.ParserException: …`: the name the model can import."""
    module = kind.__module__
    public = module.lstrip("_")
    if module.startswith("_") and getattr(sys.modules.get(public), kind.__qualname__, None) is kind:
        return tail.replace(f"{module}.{kind.__qualname__}", f"{public}.{kind.__qualname__}", 1)
    return tail


def _syntax_error(error: SyntaxError, number: int) -> str:
    text = (error.text or "").rstrip("\n")
    lines = [f"  Cell [{number}], line {error.lineno}", f"    {text.strip()}"]
    if error.offset and text:
        indent = len(text) - len(text.lstrip())
        lines.append("    " + " " * max(error.offset - 1 - indent, 0) + "^")
    lines.append(f"{type(error).__name__}: {error.msg}")
    return "\n".join(lines)
