"""Cutting text to fit, the same way wherever a model reads it.

Three policies: `shorten` keeps the start of a short value and ends it with "…"; `keep_ends`
(and `join_ends`, for a text of which only the two ends were kept) keeps the head and the tail
of output, cut between lines, with a marker line that says how much was cut and where the whole
text is; `listed` joins names up to a length and counts the rest.

Only the standard library is imported here: the server and the kernel runtime both use it.
"""

from __future__ import annotations

from collections.abc import Iterable

#: How far from a cut point a line break is looked for, so cuts fall between lines.
_SNAP = 200


def shorten(text: str, width: int) -> str:
    """`text` if it has at most `width` characters, else its first `width - 1` and "…"."""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def marker(where: str | None) -> str:
    """The line between a cut text's head and tail; `{cut:,}` in it is filled with the count."""
    place = f"the full output is in {where}" if where else "the full output was not kept"
    return "[… {cut:,} characters cut here; " + place + " …]\n"


def keep_ends(text: str, limit: int, where: str | None) -> str:
    """`text` if it fits in `limit` characters; else its head and tail within `limit`, with the
    `marker` line saying how many characters were cut and `where` the whole text is."""
    if len(text) <= limit:
        return text
    return join_ends(text, text, len(text), limit, where)


def join_ends(head: str, tail: str, total: int, limit: int, where: str | None) -> str:
    """As `keep_ends`, for a text of `total` characters (more than `limit`) that starts with
    `head` and ends with `tail` (only its two ends were kept; they may overlap)."""
    line = marker(where)
    room = max(limit - len(line.format(cut=total)) - 1, 0)
    # The head gets three fifths of the room; the tail, where errors and results are, the rest.
    head_end = _snap(head, min(room * 3 // 5, len(head)), backward=True)
    tail_start = _snap(tail, max(len(tail) - (room - head_end), 0), backward=False)
    kept_head, kept_tail = head[:head_end], tail[tail_start:]
    cut = total - len(kept_head) - len(kept_tail)
    if kept_head and not kept_head.endswith("\n"):
        kept_head += "\n"
    return kept_head + line.format(cut=cut) + kept_tail


def listed(names: Iterable[str], chars: int, more: str = "… ({n} more)") -> str:
    """`a, b, c`, at most about `chars` characters of names (always at least one), then `more`
    with `{n}` the number of names left out."""
    items = list(names)
    shown: list[str] = []
    used = 0
    for name in items:
        used += len(name) + 2
        if used > chars and shown:
            return ", ".join([*shown, more.format(n=len(items) - len(shown))])
        shown.append(name)
    return ", ".join(shown)


def _snap(text: str, index: int, backward: bool) -> int:
    """Move `index` to just after a nearby line break, staying inside the budget."""
    if backward:
        newline = text.rfind("\n", max(index - _SNAP, 0), index)
        return newline + 1 if newline >= 0 else index
    newline = text.find("\n", index, index + _SNAP)
    return newline + 1 if newline >= 0 else index
