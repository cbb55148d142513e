"""Output of any size in bounded memory: the head and the tail, and how much lay between.

A cell may print gigabytes; the reply only ever shows a budget's worth of its two ends, and the
kernel keeps the whole text in `_outputs`. So the server keeps just enough of both ends.
"""

from __future__ import annotations

from collections import deque

#: How far from a cut point a line break is looked for, so cuts fall between lines.
_SNAP = 200


class ClippedText:
    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.total = 0
        self._head: list[str] = []
        self._head_len = 0
        self._tail: deque[str] = deque()
        self._tail_len = 0

    def append(self, text: str) -> None:
        """Counts `text`; copies at most `keep` characters of it, however long it is."""
        size = len(text)
        self.total += size
        start = 0
        if self._head_len < self.keep:
            taken = text[: self.keep - self._head_len]
            self._head.append(taken)
            self._head_len += len(taken)
            start = len(taken)
        if start < size:
            # Only the end of a long piece can be part of the tail.
            piece = text[max(start, size - self.keep) :]
            self._tail.append(piece)
            self._tail_len += len(piece)
            while self._tail_len - len(self._tail[0]) >= self.keep:
                self._tail_len -= len(self._tail.popleft())

    @property
    def head(self) -> str:
        return "".join(self._head)

    @property
    def tail(self) -> str:
        """The last characters after the head: at most `keep` of them, with nothing between when
        `gap` is zero."""
        tail = "".join(self._tail)
        return tail[-self.keep :] if len(tail) > self.keep else tail

    @property
    def gap(self) -> int:
        return self.total - self._head_len - len(self.tail)

    def __str__(self) -> str:
        return self.head + (f"[… {self.gap:,} characters …]" if self.gap else "") + self.tail


def budget(text: ClippedText, limit: int, where: str | None) -> str:
    """The head and the tail of `text` within `limit` characters, with one marker line between."""
    head, tail = text.head, text.tail
    if text.total <= limit:
        return head + tail
    place = f"the full output is in {where}" if where else "the full output was not kept"
    marker = "[… {cut:,} characters cut here; " + place + " …]\n"
    room = max(limit - len(marker.format(cut=text.total)) - 1, 0)
    head_end = _snap(head, min(room * 3 // 5, len(head)), backward=True)
    tail_start = _snap(tail, max(len(tail) - (room - head_end), 0), backward=False)
    kept_head, kept_tail = head[:head_end], tail[tail_start:]
    cut = text.total - len(kept_head) - len(kept_tail)
    if kept_head and not kept_head.endswith("\n"):
        kept_head += "\n"
    return kept_head + marker.format(cut=cut) + kept_tail


def _snap(text: str, index: int, backward: bool) -> int:
    """Move `index` to just after a nearby line break, staying inside the budget."""
    if backward:
        newline = text.rfind("\n", max(index - _SNAP, 0), index)
        return newline + 1 if newline >= 0 else index
    newline = text.find("\n", index, index + _SNAP)
    return newline + 1 if newline >= 0 else index
