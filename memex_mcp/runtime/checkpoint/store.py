"""The files of a session's checkpoint, and how each is written so that a crash never corrupts it.

    <session_dir>/checkpoint/manifest.json      which file holds which variable, with its checksum
    <session_dir>/checkpoint/<name>.<n>.pkl     one variable (cloudpickle), or .parquet for big frames
    <session_dir>/checkpoint/history.jsonl      one line per execution, appended
    <session_dir>/checkpoint/submissions.json   the answers recorded with submit()
    <session_dir>/checkpoint/restoring          while a restore runs: the variable it is reading

A variable's new version goes to a new file (temporary name, then renamed); only then does the
manifest, itself replaced by rename, point at it. A process killed at any moment leaves the previous
manifest and the files it names intact. Files are not fsynced: a killed kernel loses nothing the
operating system has already accepted, and the CRC in the manifest catches a file that a power
loss left short.

No file the manifest names is ever deleted, except the previous version of a variable the scope has
bound anew. A variable that a restore could not bring back (its class is not importable, its file is
corrupt, loading it overran its time or crashed the kernel) is set aside: it stays in the manifest,
under `aside`, with its file and the reason, until the scope binds that name again. Those that
failed quickly are tried again at every restore; those that overran or crashed are not, so that one
value cannot stall or crash every restart. A `manifest.crashed.json` left by earlier versions (which
set a whole checkpoint aside) is merged back: its variables that the scope has not bound since come
back.
"""

from __future__ import annotations

import contextlib
import json
import os
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

Format = Literal["pickle", "parquet-pandas", "parquet-arrow", "module"]

_VERSION = 1
_CHUNK = 16 * 2**20


class CorruptFile(Exception):
    """A checkpoint file is missing, short, or does not match its checksum."""


@dataclass
class Entry:
    """One saved variable: `file` holds it in `format`; `module` names it when it is a module."""

    type: str
    format: Format
    file: str = ""
    crc: int = 0
    size: int = 0
    module: str = ""


@dataclass
class Skipped:
    """A variable that is in the scope but not in the checkpoint, and why."""

    type: str
    reason: str


@dataclass
class Aside:
    """A saved variable that a restore could not bring back; its file is kept."""

    entry: Entry
    #: Why, written for the model.
    reason: str
    #: Loaded again at the next restore: it failed quickly (a class not importable today). A
    #: variable whose loading overran its time or crashed the kernel is not.
    retry: bool


@dataclass
class Manifest:
    execution: int = 0
    variables: dict[str, Entry] = field(default_factory=dict)
    skipped: dict[str, Skipped] = field(default_factory=dict)
    #: Files are numbered so that a new version never overwrites the one the manifest names.
    serial: int = 0
    aside: dict[str, Aside] = field(default_factory=dict)


class _Checksummed:
    """A binary file that keeps the CRC-32 and length of everything written through it."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file
        self.crc = 0
        self.size = 0

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.crc = zlib.crc32(view, self.crc)
        self.size += view.nbytes
        return self._file.write(view)


class Store:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._manifest_path = root / "manifest.json"
        self._legacy_path = root / "manifest.crashed.json"
        self._history_path = root / "history.jsonl"
        self._marker_path = root / "restoring"

    def exists(self) -> bool:
        """Whether a checkpoint was ever written here (a manifest, or only history)."""
        return any(p.exists() for p in (self._manifest_path, self._legacy_path, self._history_path))

    def clean(self, manifest: Manifest) -> None:
        """Remove temporary files of writes a crash interrupted, and files no manifest names."""
        named = {e.file for e in manifest.variables.values()} | {a.entry.file for a in manifest.aside.values()}
        try:
            legacy = self._read_manifest(self._legacy_path)
        except CorruptFile:
            return  # the files it names are unknown: delete none
        if legacy is not None:
            named |= {e.file for e in legacy.variables.values()}
        for path in self.root.iterdir():
            if path.suffix == ".tmp" or (path.suffix in (".pkl", ".parquet") and path.name not in named):
                path.unlink(missing_ok=True)

    def write(self, manifest: Manifest, name: str, suffix: str, writer: Callable[[Any], None]) -> tuple[str, int, int]:
        """Write one variable's file through `writer(file)`; returns its (file name, crc, size)."""
        manifest.serial += 1
        filename = f"{name}.{manifest.serial}{suffix}"
        tmp = self.root / (filename + ".tmp")
        try:
            with open(tmp, "wb") as raw:
                out = _Checksummed(raw)
                writer(out)
            os.replace(tmp, self.root / filename)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return filename, out.crc, out.size

    def write_file(
        self, manifest: Manifest, name: str, suffix: str, writer: Callable[[Path], None]
    ) -> tuple[str, int, int]:
        """As `write`, for libraries that write to a path themselves (Parquet); checksummed after."""
        manifest.serial += 1
        filename = f"{name}.{manifest.serial}{suffix}"
        tmp = self.root / (filename + ".tmp")
        try:
            writer(tmp)
            crc, size = _crc_of(tmp)
            os.replace(tmp, self.root / filename)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return filename, crc, size

    def commit(self, manifest: Manifest, obsolete: list[str]) -> None:
        """Make `manifest` the checkpoint, then delete the files it no longer names. A variable set
        aside whose name the scope has bound again is dropped, with its file."""
        for name in [n for n in manifest.aside if n in manifest.variables or n in manifest.skipped]:
            obsolete.append(manifest.aside.pop(name).entry.file)
        data = {
            "version": _VERSION,
            "execution": manifest.execution,
            "serial": manifest.serial,
            "variables": {k: vars(v) for k, v in manifest.variables.items()},
            "skipped": {k: vars(v) for k, v in manifest.skipped.items()},
            "aside": {
                k: {"entry": vars(a.entry), "reason": a.reason, "retry": a.retry} for k, a in manifest.aside.items()
            },
        }
        _atomic_write(self._manifest_path, json.dumps(data).encode())
        for filename in obsolete:
            if filename:
                (self.root / filename).unlink(missing_ok=True)

    def manifest(self) -> Manifest | None:
        """The last committed manifest, with what an earlier version's `manifest.crashed.json` holds
        that it does not; None when there is none. Raises CorruptFile if unreadable."""
        current = self._read_manifest(self._manifest_path)
        try:
            legacy = self._read_manifest(self._legacy_path)
        except CorruptFile:
            legacy = None
        if legacy is None:
            return current
        if current is None:
            return legacy
        bound = current.variables.keys() | current.skipped.keys() | current.aside.keys()
        current.variables.update((k, e) for k, e in legacy.variables.items() if k not in bound)
        current.serial = max(current.serial, legacy.serial)
        return current

    def has_legacy(self) -> bool:
        return self._legacy_path.exists()

    def retire_legacy(self) -> None:
        """Once a manifest from `manifest()` is committed, it names what the legacy one held."""
        self._legacy_path.unlink(missing_ok=True)

    def _read_manifest(self, path: Path) -> Manifest | None:
        try:
            raw = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise CorruptFile(f"the checkpoint manifest is unreadable ({exc})") from None
        if raw.get("version", _VERSION) != _VERSION:
            raise CorruptFile(f"the checkpoint was written by an incompatible version ({raw.get('version')})")
        return Manifest(
            execution=raw["execution"],
            variables={k: Entry(**v) for k, v in raw["variables"].items()},
            skipped={k: Skipped(**v) for k, v in raw["skipped"].items()},
            serial=raw["serial"],
            aside={k: Aside(Entry(**a["entry"]), a["reason"], a["retry"]) for k, a in raw.get("aside", {}).items()},
        )

    def verified(self, entry: Entry) -> Path:
        """The entry's file, once its length and CRC match the manifest."""
        path = self.root / entry.file
        try:
            crc, size = _crc_of(path)
        except FileNotFoundError:
            raise CorruptFile("its checkpoint file is missing") from None
        _check(entry, crc, size)
        return path

    def read_verified(self, entry: Entry) -> bytes:
        """The entry's file's bytes, once their length and CRC match the manifest (one read)."""
        try:
            data = (self.root / entry.file).read_bytes()
        except FileNotFoundError:
            raise CorruptFile("its checkpoint file is missing") from None
        _check(entry, zlib.crc32(data), len(data))
        return data

    @contextlib.contextmanager
    def restoring(self) -> Iterator[Marker]:
        """Mark a restore as running, with the variable it is reading (see `Marker`). The marker
        goes when the restore finishes; one that stopped midway leaves it for the next restore."""
        with os.fdopen(os.open(self._marker_path, os.O_RDWR | os.O_CREAT, 0o644), "r+b", buffering=0) as file:
            marker = Marker(file)
            yield marker
        self._marker_path.unlink(missing_ok=True)

    def append_history(self, record: dict[str, Any]) -> None:
        with open(self._history_path, "ab") as file:
            # ASCII JSON: outputs can hold lone surrogates (undecodable bytes), which UTF-8 cannot.
            file.write(json.dumps(record).encode() + b"\n")

    def history(self) -> Iterator[dict[str, Any]]:
        """Every whole line of the history; a line a crash cut short is skipped."""
        with contextlib.suppress(FileNotFoundError), open(self._history_path, "rb") as file:
            for line in file:
                with contextlib.suppress(ValueError):
                    yield json.loads(line)

    def write_json(self, filename: str, value: Any) -> None:
        _atomic_write(self.root / filename, json.dumps(value).encode())

    def read_json(self, filename: str) -> Any:
        try:
            return json.loads((self.root / filename).read_bytes())
        except (OSError, ValueError):
            return None


class Marker:
    """The name of the variable a restore is reading, kept in a file so that it outlives a crash."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file
        file.seek(0)
        #: What the last restore was reading when it stopped ("": nothing, or it finished).
        self.previous = file.read(4096).decode(errors="replace").partition("\n")[0]
        self.reading("")

    def reading(self, name: str) -> None:
        # Terminated rather than truncated: one write, and a longer name left behind is ignored.
        self._file.seek(0)
        self._file.write(name.encode() + b"\n")


def _check(entry: Entry, crc: int, size: int) -> None:
    if (crc, size) != (entry.crc, entry.size):
        raise CorruptFile(f"its checkpoint file is corrupt ({size:,} of {entry.size:,} bytes, checksum mismatch)")


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _crc_of(path: Path) -> tuple[int, int]:
    crc, size = 0, 0
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
    return crc, size
