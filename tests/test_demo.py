"""`memex-mcp demo`, the README's first command, shows a real session end to end."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


def test_the_demo_shows_what_the_model_saw_beside_what_stayed_in_the_kernel(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "memex_mcp", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "MEMEX_STATE_DIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "1,000,099 order lines; revenue 127,332,596" in out  # the SQL question, from the bundled tables
    assert "kestrel_q3_2025_report.pdf p.2" in out and "EMEA region was" in out  # one hit
    assert "$44.6 million in Q3 2025" in out  # and the text around it
    assert "characters cut here;" in out and "_outputs[3]" in out
    assert "lines: DataFrame, " in out
    ratio = re.search(r"The model read ([\d,]+) characters in all; the kernel holds about ([\d,]+) bytes", out)
    assert ratio is not None
    seen, kept = (int(n.replace(",", "")) for n in ratio.groups())
    assert seen < 5_000 and kept > 1000 * seen
