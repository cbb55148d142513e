"""The files of a data dir, walked the same way for `docs` and for the DuckDB views."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path


def files(root: Path | str) -> Iterator[Path]:
    """Every file under `root`, recursively, in a stable order. Symbolic links to directories are
    followed, each directory once (a link loop ends there); hidden files and directories and Office
    lock files (`~$memo.docx`) are left out."""
    seen: set[tuple[int, int]] = set()
    for directory, subdirs, names in os.walk(root, followlinks=True):
        stat = os.stat(directory)
        if (stat.st_dev, stat.st_ino) in seen:
            subdirs[:] = []
            continue
        seen.add((stat.st_dev, stat.st_ino))
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        yield from (Path(directory, name) for name in sorted(names) if not name.startswith((".", "~$")))
