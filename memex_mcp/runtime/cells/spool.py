"""Output text of any size in bounded memory: in memory while small, then in a file as it grows.

A cell that prints gigabytes must neither exhaust the kernel's memory nor make every restore reload
it, so past `SPILL_CHARS` an output lives in `<session dir>/outputs/`, written as it is printed, and
is read back only when asked for. Files are UTF-8 with lone surrogates kept (`surrogatepass`), so
what is read back is exactly what was printed.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import IO, Any

#: Characters of one output kept in memory; beyond that it is kept in its file.
SPILL_CHARS = 2**20

_ENCODING: dict[str, Any] = {"encoding": "utf-8", "errors": "surrogatepass", "newline": ""}


class SpooledText:
    """Text appended piece by piece, from any thread.

    `name` is the file's path relative to `root`; without a root the text always stays in memory.
    """

    def __init__(self, root: Path | None = None, name: str = "", text: str = "") -> None:
        self._root = root
        self.name = name
        self._parts: list[str] = [text] if text else []
        self._memory = len(text)
        self._chars: int | None = len(text)
        self._in_file = False
        #: Open while the execution runs; later appends (its threads) open and close it each time.
        self._file: IO[str] | None = None
        self._closed = False
        #: Why the file could not be written: the rest stays in memory.
        self._failed: str | None = None
        self._lock = threading.Lock()

    @classmethod
    def in_file(cls, root: Path, name: str, chars: int, size: int) -> SpooledText:
        """A text kept in its file by an earlier kernel: `chars` are trusted while the file still
        has the `size` it had then."""
        spooled = cls(root, name)
        spooled._in_file, spooled._closed = True, True
        spooled._chars = None  # counted when read, unless the file is as it was
        with contextlib.suppress(OSError):
            if (root / name).stat().st_size == size:
                spooled._chars = chars
        return spooled

    @property
    def path(self) -> Path | None:
        return self._root / self.name if self._root is not None and self.name else None

    @property
    def file(self) -> Path | None:
        """The file that holds the text (all of it, unless writing it failed), if it is in one."""
        return self.path if self._in_file else None

    def append(self, text: str) -> None:
        if not text:
            return
        with self._lock:
            if self._chars is not None:
                self._chars += len(text)
            if self._in_file and self._failed is None:
                self._write(text)
                return
            self._parts.append(text)
            self._memory += len(text)
            if self._memory > SPILL_CHARS and self.path is not None and self._failed is None:
                self._spill()

    def close(self) -> None:
        """The execution has ended: what it wrote reaches the file now."""
        with self._lock:
            self._closed = True
            if self._file is not None:
                self._file.close()
                self._file = None

    def read(self) -> str:
        """The whole text. Raises FileNotFoundError, saying so, if its file was removed."""
        with self._lock:
            if self._file is not None:
                self._file.flush()
            memory = "".join(self._parts)
            self._parts = [memory] if memory else []
            path = self.path if self._in_file else None
        if path is None:
            return memory
        try:
            with open(path, **_ENCODING) as file:
                text: str = file.read()
        except FileNotFoundError:
            raise FileNotFoundError(f"this output was kept in {path}, which no longer exists") from None
        except MemoryError:
            raise MemoryError(
                f"this output ({path.stat().st_size:,} bytes) does not fit in memory as one string; "
                f"read its file {path} in parts instead (open(path).read(10**6))"
            ) from None
        if self._chars is None:
            self._chars = len(text) + len(memory)
        return text + memory

    def __len__(self) -> int:
        if self._chars is None:
            self.read()
        return self._chars or 0

    def describe(self) -> str:
        """Its length, without reading it when that is known."""
        try:
            return f"{len(self):,} chars"
        except OSError:
            return "its file is missing"

    def to_record(self) -> dict[str, Any]:
        """What a history line holds: the text, or where its file is."""
        path = self.path
        if not self._in_file or self._failed is not None or path is None:
            return {"output": self.read()}
        with self._lock:
            if self._file is not None:
                self._file.flush()
        size = path.stat().st_size if path.exists() else 0
        return {"output": None, "output_file": self.name, "output_chars": len(self), "output_bytes": size}

    def _spill(self) -> None:
        parts, self._parts, self._memory = self._parts, [], 0
        self._in_file = True
        try:
            assert self.path is not None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            for part in parts:
                self._write(part)
        except OSError as exc:
            self._fail(exc, parts)

    def _write(self, text: str) -> None:
        try:
            if self._file is None:
                assert self.path is not None
                self._file = open(self.path, "a", **_ENCODING)  # noqa: SIM115 (open while the cell runs)
            self._file.write(text)
            if self._closed:
                self._file.close()
                self._file = None
        except OSError as exc:
            self._fail(exc, [text])

    def _fail(self, exc: OSError, unwritten: list[str]) -> None:
        # A full disk must not fail the cell that prints: the rest is kept in memory instead.
        self._failed = f"{type(exc).__name__}: {exc}"
        self._parts.extend(unwritten)
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
