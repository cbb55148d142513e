"""Short tracebacks: only the frames of the user's own cells, ending in `Type: message`."""

from __future__ import annotations

import linecache
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
    tail = "".join(traceback.format_exception_only(type(error), error)).rstrip()
    if not frames:
        return tail
    return "Traceback (most recent call last):\n" + "\n".join(frames) + "\n" + tail


def _syntax_error(error: SyntaxError, number: int) -> str:
    text = (error.text or "").rstrip("\n")
    lines = [f"  Cell [{number}], line {error.lineno}", f"    {text.strip()}"]
    if error.offset and text:
        indent = len(text) - len(text.lstrip())
        lines.append("    " + " " * max(error.offset - 1 - indent, 0) + "^")
    lines.append(f"{type(error).__name__}: {error.msg}")
    return "\n".join(lines)
