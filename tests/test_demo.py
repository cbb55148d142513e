"""`memex-mcp demo`, the README's first command, shows a real session end to end."""

from __future__ import annotations

import re
import subprocess
import sys


def test_the_demo_shows_what_the_model_saw_beside_what_stayed_in_the_kernel() -> None:
    result = subprocess.run([sys.executable, "-m", "memex_mcp", "demo"], capture_output=True, text=True,
                            timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "1,000,000 sales; north total: " in out
    assert "characters cut here;" in out and "_outputs[2]" in out
    assert "sales: list, " in out
    ratio = re.search(r"The model read ([\d,]+) characters in all; the kernel holds about ([\d,]+) bytes", out)
    assert ratio is not None
    seen, kept = (int(n.replace(",", "")) for n in ratio.groups())
    assert seen < 5_000 and kept > 1000 * seen
