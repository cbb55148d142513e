"""memex-mcp as it was at an earlier commit: `python -m benchmarks.whatif.before [COMMIT]`.

The warm-path changes (no post-execute sleep, no empty flushes, no execute_input echo, the lean
reader, the short IOPub join) are measured against the code before them, in the same run: the
commit's tree is exported once (`git archive`, into a cache directory; the repository is not
touched) and served from there, its kernel importing the same old code.
"""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: The last commit before the warm-path changes.
BEFORE = "6ce01da23efebe206c1fd406c8fabc285f9765d8"
SHORT = BEFORE[:7]
#: The last commit before long work (`--reply-within`) and the second path into the kernel.
LONG_WORK = "a067143ac8b21143438b4ee1f37f5f7fb7168bb6"


def tree(commit: str = BEFORE) -> Path:
    """The source tree of `commit`, exported once into a cache directory."""
    target = Path(tempfile.gettempdir()) / f"memex-before-{commit[:12]}"
    if not (target / "memex_mcp").is_dir():
        partial = target.with_name(target.name + f".{os.getpid()}")
        partial.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(partial)], input=archive, check=True)
        partial.rename(target)
    return target


def main() -> None:
    """Serves the commit given as the first argument (default: BEFORE)."""
    old = str(tree(sys.argv[1] if len(sys.argv) > 1 else BEFORE))
    # Nothing of today's memex may load: neither here nor in the kernel, which inherits PYTHONPATH.
    here = {str(ROOT), "", os.getcwd()}
    sys.path[:] = [old] + [p for p in sys.path if p not in here]
    os.environ["PYTHONPATH"] = old
    sys.argv = ["memex_mcp"]
    runpy.run_module("memex_mcp", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
