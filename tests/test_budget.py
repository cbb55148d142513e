"""The output budget: head and tail kept in bounded memory, one marker line, never over the limit."""

from __future__ import annotations

import random
import re

from memex_mcp.server.clip import ClippedText, budget


def clipped(text: str, keep: int, chunk: int = 997) -> ClippedText:
    c = ClippedText(keep)
    for i in range(0, len(text), chunk):
        c.append(text[i : i + chunk])
    return c


def test_text_within_the_limit_is_untouched() -> None:
    assert budget(clipped("short\n", 100), 100, "_outputs[1]") == "short\n"


def test_long_text_keeps_head_and_tail_and_counts_what_was_cut() -> None:
    text = "".join(f"row {i:04d}\n" for i in range(5000))  # 9 characters a row
    cut = budget(clipped(text, 1000), 1000, "_outputs[7]")
    assert len(cut) <= 1000
    head, marker, tail = re.split(r"(?m)^(\[….*…\])\n", cut)
    assert text.startswith(head) and text.endswith(tail)
    assert head.endswith("\n") and tail.startswith("row ")
    missing = len(text) - len(head) - len(tail)
    assert marker == f"[… {missing:,} characters cut here; the full output is in _outputs[7] …]"


def test_text_without_line_breaks_is_cut_mid_line() -> None:
    cut = budget(clipped("a" * 50_000, 500), 500, None)
    assert len(cut) <= 500
    assert "characters cut here; the full output was not kept" in cut


def test_memory_stays_bounded_whatever_the_output_size() -> None:
    c = ClippedText(keep=1000)
    for _ in range(100_000):
        c.append("x" * 99 + "\n")  # 10 MB in all
    assert c.total == 10_000_000
    assert len(c.head) == 1000 and len(c.tail) == 1000
    assert c.gap == 10_000_000 - 2000
    assert sum(len(chunk) for chunk in c._tail) < 1100


def test_head_and_tail_are_exact_for_random_chunking() -> None:
    rng = random.Random(7)
    for _ in range(200):
        text = "".join(rng.choice("ab\n") for _ in range(rng.randrange(0, 3000)))
        c = clipped(text, keep=rng.randrange(1, 800), chunk=rng.randrange(1, 500))
        assert c.total == len(text)
        assert c.head == text[: c.keep]
        assert text.endswith(c.tail)
        assert len(c.head) + c.gap + len(c.tail) == len(text)
        if len(text) <= 2 * c.keep:
            assert c.head + c.tail == text
