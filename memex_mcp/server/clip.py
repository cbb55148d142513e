"""Output of any size in bounded memory: the head and the tail, and how much lay between.

A cell may print gigabytes; the reply only ever shows a budget's worth of its two ends, and the
kernel keeps the whole text in `_outputs`. So the server keeps just enough of both ends.
"""

from __future__ import annotations

from collections import deque

from memex_mcp.text import join_ends


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
    if text.total <= limit:
        return text.head + text.tail
    return join_ends(text.head, text.tail, text.total, limit, where)
