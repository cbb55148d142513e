"""Loading a checkpoint back into a scope: each variable once, what it refers to by name first.

Loading runs on a daemon thread while the calling thread keeps time: each variable gets
`seconds`, plus one second per 10 MB of its file. A variable whose loading overruns that (an
unpickling that blocks) is given up, its thread left to finish on its own, and the rest is loaded
on a new thread. A read that holds the GIL cannot be timed out here: the server bounds the whole
call for that.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import pickle
import threading
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memex_mcp.runtime.cells.history import ExecutionRecord, History
from memex_mcp.runtime.checkpoint.store import CorruptFile, Entry, Manifest, Marker, Store
from memex_mcp.runtime.checkpoint.values import quiet, say

#: Pickles up to this size are read into memory once, checksummed and loaded from there.
_IN_MEMORY = 16 * 2**20
#: The slowest reading rate a variable's time allows for, in bytes per second.
_SLOWEST_READ = 10 * 2**20


@dataclass
class Failure:
    """Why a variable did not come back; `retry`: worth trying at the next restore."""

    reason: str
    retry: bool


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: Any, resolve: Callable[[str, str], Any]) -> None:
        super().__init__(file)
        self._resolve = resolve

    def persistent_load(self, pid: Any) -> Any:
        kind, name = pid
        return self._resolve(kind, name)


class VariableLoader:
    """Loads each variable once, and the variables it refers to by name first."""

    def __init__(
        self,
        store: Store,
        manifest: Manifest,
        ns: dict[str, Any],
        hidden: dict[str, Any],
        marker: Marker,
        seconds: float,
    ) -> None:
        self._store = store
        self._manifest = manifest
        self._ns = ns
        self._hidden = hidden
        self._marker = marker
        self._seconds = seconds
        self._loaded: dict[str, Any] = {}
        self._failed: dict[str, Failure] = {}
        #: The variables the loading thread is reading, innermost last.
        self._reading: list[str] = []
        #: When the innermost read overruns (monotonic seconds).
        self._deadline = 0.0
        # The loading thread changes the state above only under the lock, and only while its
        # generation is current: a thread given up on can no longer touch it.
        self._lock = threading.Lock()
        self._generation = 0
        self._thread = threading.local()

    def load_all(self) -> tuple[dict[str, Any], dict[str, Failure]]:
        """Every variable of the manifest loaded, or why not."""
        with quiet():  # here, not on the loading thread: redirection is process-wide
            while True:
                thread = self._start()
                while thread.is_alive():
                    thread.join(max(0.0, self._deadline - time.monotonic()))
                    if thread.is_alive() and time.monotonic() >= self._deadline:
                        self._give_up()
                        break
                else:
                    return self._loaded, self._failed

    def _start(self) -> threading.Thread:
        self._deadline = time.monotonic() + self._seconds
        thread = threading.Thread(
            target=self._load_remaining, args=(self._generation,), name="memex-restore", daemon=True
        )
        thread.start()
        return thread

    def _load_remaining(self, generation: int) -> None:
        self._thread.generation = generation
        with contextlib.suppress(_GivenUp):
            for name in list(self._manifest.variables):
                with contextlib.suppress(_NotLoaded):
                    self._load(name)

    def _give_up(self) -> None:
        """The innermost read overran: it is not restored, nor are the variables that refer to it."""
        with self._lock:
            self._generation += 1
            reading, self._reading = self._reading, []
            if not reading:
                return
            name = reading[-1]
            seconds = self._bound(self._manifest.variables[name])
            self._failed[name] = Failure(f"loading it did not finish within {seconds:.0f} s", retry=False)
            for outer in reading[:-1]:
                self._failed[outer] = Failure(f"it refers to {name}, which was not restored", retry=True)
            self._marker.reading("")

    def _load(self, name: str) -> Any:
        if name in self._loaded:
            return self._loaded[name]
        if name in self._failed or name in self._reading:
            raise _NotLoaded(name)
        entry = self._manifest.variables[name]
        self._enter(name, entry)
        try:
            value = _rebind(self._read(entry), self._ns)
        except _GivenUp:
            raise
        except BaseException as exc:  # SystemExit from a reduce that calls exit() is a failure too
            self._leave(name, failure=_failure(exc))
            raise _NotLoaded(name) from None
        self._leave(name, value=value)
        return value

    def _enter(self, name: str, entry: Entry) -> None:
        with self._lock:
            self._current()
            self._reading.append(name)
            self._marker.reading(name)
            self._deadline = time.monotonic() + self._bound(entry)

    def _leave(self, name: str, value: Any = None, failure: Failure | None = None) -> None:
        with self._lock:
            self._current()
            self._reading.pop()
            if failure is None:
                self._loaded[name] = value
            else:
                self._failed[name] = failure
            # Back in the variable that referred to this one, or between variables.
            outer = self._reading[-1] if self._reading else ""
            self._marker.reading(outer)
            self._deadline = time.monotonic() + (
                self._bound(self._manifest.variables[outer]) if outer else self._seconds
            )

    def _current(self) -> None:
        if self._thread.generation != self._generation:
            raise _GivenUp

    def _bound(self, entry: Entry) -> float:
        return self._seconds + entry.size / _SLOWEST_READ

    def _read(self, entry: Entry) -> Any:
        if entry.format == "module":
            return importlib.import_module(entry.module)
        if entry.format == "pickle" and entry.size <= _IN_MEMORY:
            return _Unpickler(io.BytesIO(self._store.read_verified(entry)), self._resolve).load()
        path = self._store.verified(entry)
        # pandas and pyarrow are imported by name: only a kernel that had them wrote these files.
        if entry.format == "parquet-pandas":
            return importlib.import_module("pandas").read_parquet(path)
        if entry.format == "parquet-arrow":
            return importlib.import_module("pyarrow.parquet").read_table(path)
        with open(path, "rb") as file:
            return _Unpickler(file, self._resolve).load()

    def _resolve(self, kind: str, name: str) -> Any:
        if kind == "prelude":
            if name not in self._hidden:
                raise _NotLoaded(f"the preloaded {name}")
            return self._hidden[name]
        if name not in self._manifest.variables:
            raise _NotLoaded(name)
        return self._load(name)


def _failure(exc: BaseException) -> Failure:
    if isinstance(exc, _NotLoaded):
        return Failure(f"it refers to {exc.args[0]}, which was not restored", retry=True)
    if isinstance(exc, CorruptFile):  # a file does not mend itself
        return Failure(str(exc), retry=False)
    return Failure(f"could not be loaded ({say(exc)})", retry=True)


def load_history(store: Store, shell: Any, history: History, session_dir: Path) -> int:
    """Put the saved executions back into `history` and `_outputs` (outputs kept in files are read
    from `session_dir` when asked); returns the last number (0: none).
    Numbers then go on where the session stopped, so `_outputs[n]` keys never collide."""
    last = 0
    for record in store.history():
        with contextlib.suppress(KeyError, TypeError):
            e = ExecutionRecord.from_record(record, session_dir)
            history.append(e)  # `_outputs` reads `history`
            last = max(last, e.number)
    if last:
        shell.execution_count = last + 1
        kernel = getattr(shell, "kernel", None)
        if kernel is not None:
            kernel.execution_count = last
    return last


class _NotLoaded(Exception):
    pass


class _GivenUp(BaseException):
    """Raised in a loading thread that overran: it unwinds without touching the loader's state."""


def _rebind(value: Any, ns: dict[str, Any]) -> Any:
    """Functions and classes from cells read the live scope again, not the globals they were pickled with."""
    if isinstance(value, types.FunctionType) and value.__module__ == "__main__" and value.__globals__ is not ns:
        return _rebind_function(value, ns)
    if isinstance(value, type) and value.__module__ == "__main__":
        for attr, member in list(vars(value).items()):
            if isinstance(member, types.FunctionType) and member.__globals__ is not ns:
                with contextlib.suppress(AttributeError, TypeError):
                    setattr(value, attr, _rebind_function(member, ns))
            elif isinstance(member, staticmethod | classmethod) and isinstance(member.__func__, types.FunctionType):
                with contextlib.suppress(AttributeError, TypeError):
                    setattr(value, attr, type(member)(_rebind_function(member.__func__, ns)))
    return value


def _rebind_function(f: types.FunctionType, ns: dict[str, Any]) -> types.FunctionType:
    new = types.FunctionType(f.__code__, ns, f.__name__, f.__defaults__, f.__closure__)
    new.__dict__.update(f.__dict__)
    new.__kwdefaults__ = f.__kwdefaults__
    new.__qualname__ = f.__qualname__
    new.__doc__ = f.__doc__
    new.__annotations__ = f.__annotations__
    new.__module__ = f.__module__
    return new
