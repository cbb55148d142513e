"""Loading a checkpoint back into a scope: each variable once, what it refers to by name first."""

from __future__ import annotations

import contextlib
import importlib
import pickle
import types
from collections.abc import Callable, Mapping
from typing import Any

from memex_mcp.protocol import Unrestored
from memex_mcp.runtime.checkpoint_store import CorruptFile, Entry, Manifest, Store
from memex_mcp.runtime.checkpoint_values import quiet, say
from memex_mcp.runtime.history import Execution, History


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: Any, resolve: Callable[[str, str], Any]) -> None:
        super().__init__(file)
        self._resolve = resolve

    def persistent_load(self, pid: Any) -> Any:
        kind, name = pid
        return self._resolve(kind, name)


class Loader:
    """Loads each variable once, and the variables it refers to by name first."""

    def __init__(self, store: Store, manifest: Manifest, ns: dict[str, Any], hidden: dict[str, Any]) -> None:
        self._store = store
        self._manifest = manifest
        self._ns = ns
        self._hidden = hidden
        self._loaded: dict[str, Any] = {}
        self._failed: dict[str, Unrestored] = {}
        self._loading: set[str] = set()

    def load_all(self) -> tuple[dict[str, Any], dict[str, Unrestored]]:
        for name in self._manifest.variables:
            with contextlib.suppress(_NotLoaded):
                self._load(name)
        return self._loaded, self._failed

    def _load(self, name: str) -> Any:
        if name in self._loaded:
            return self._loaded[name]
        if name in self._failed or name in self._loading:
            raise _NotLoaded(name)
        entry = self._manifest.variables[name]
        self._loading.add(name)
        try:
            value = self._read(entry)
        except _NotLoaded as missing:
            self._fail(name, entry, f"it refers to {missing.args[0]}, which was not restored")
        except CorruptFile as exc:
            self._fail(name, entry, str(exc))
        except Exception as exc:
            self._fail(name, entry, f"could not be loaded ({say(exc)})")
        finally:
            self._loading.discard(name)
        self._loaded[name] = _rebind(value, self._ns)
        return self._loaded[name]

    def _fail(self, name: str, entry: Entry, reason: str) -> None:
        self._failed[name] = Unrestored(name=name, type=entry.type, reason=reason)
        raise _NotLoaded(name)

    def _read(self, entry: Entry) -> Any:
        if entry.format == "module":
            return importlib.import_module(entry.module)
        path = self._store.verified(entry)
        # pandas and pyarrow are imported by name: only a kernel that had them wrote these files.
        if entry.format == "parquet-pandas":
            return importlib.import_module("pandas").read_parquet(path)
        if entry.format == "parquet-arrow":
            return importlib.import_module("pyarrow.parquet").read_table(path)
        with quiet(), open(path, "rb") as file:
            return _Unpickler(file, self._resolve).load()

    def _resolve(self, kind: str, name: str) -> Any:
        if kind == "prelude":
            if name not in self._hidden:
                raise _NotLoaded(f"the preloaded {name}")
            return self._hidden[name]
        if name not in self._manifest.variables:
            raise _NotLoaded(name)
        return self._load(name)


def load_history(store: Store, shell: Any, history: History, outputs: Mapping[int, str]) -> int:
    """Put the saved executions back into `history` and `_outputs`; returns the last number (0: none).
    Numbers then go on where the session stopped, so `_outputs[n]` keys never collide."""
    last = 0
    for record in store.history():
        with contextlib.suppress(KeyError, TypeError):
            e = Execution.from_record(record)
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
