"""The output budget: head and tail kept, one marker line, never over the limit."""

from __future__ import annotations

import re

from memex_mcp.server.render import budget


def test_text_within_the_limit_is_untouched() -> None:
    assert budget("short\n", 100, "_outputs[1]") == "short\n"


def test_long_text_keeps_head_and_tail_and_counts_what_was_cut() -> None:
    text = "".join(f"row {i:04d}\n" for i in range(5000))  # 9 characters a row
    cut = budget(text, 1000, "_outputs[7]")
    assert len(cut) <= 1000
    head, marker, tail = re.split(r"(?m)^(\[….*…\])\n", cut)
    assert text.startswith(head) and text.endswith(tail)
    assert head.endswith("\n") and tail.startswith("row ")
    missing = len(text) - len(head) - len(tail)
    assert marker == f"[… {missing:,} characters cut here; the full output is in _outputs[7] …]"


def test_text_without_line_breaks_is_cut_mid_line() -> None:
    cut = budget("a" * 50_000, 500, None)
    assert len(cut) <= 500
    assert "characters cut here; the full output was not kept" in cut
