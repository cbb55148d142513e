"""Incremental checkpoints of the user scope after each execution (SPEC section 9).

What changed since the last checkpoint is found cheaply:
- a name that is new, or bound to another object (identity), changed;
- a name the cell's code mentions may have been mutated, so it is pickled again;
- a value whose last pickle was small (≤ 256 KB) is pickled again after every cell with the plain C
  pickler (no hooks: about 5 µs for a small dict) and compared by CRC, which catches any mutation
  of it; only when that changed is it pickled for real.
What this misses: an in-place mutation, by code that does not name it (through an alias, a
function defined in an earlier cell, or a sub-agent's thread), of a value that is large or that the
plain pickler cannot handle (one holding lambdas or cell-defined functions). Such a value is saved
again the next time a cell names it.

Small changed values are pickled before the reply (well under a millisecond for a small scope):
a snapshot, so later mutations cannot reach the checkpoint. Their files, the history line and the
manifest are written right after the reply; values estimated above 4 MB are pickled then, straight
into their file. That happens on the kernel's main thread under its shell lock, so the next request
waits for it and no later cell can mutate a value while it is written; a kernel killed in that
instant keeps the previous checkpoint, whole. Sub-agents' threads are not stopped: a value one of
them changes while it is pickled keeps its previous version until the next cell.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import io
import re
import threading
import types
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from IPython.core.interactiveshell import ExecutionResult, InteractiveShell

from memex_mcp.protocol import RestoreReport, RuntimeConfig, Unrestored
from memex_mcp.runtime.cells import CellRecorder
from memex_mcp.runtime.checkpoint_load import load_history
from memex_mcp.runtime.checkpoint_restore import Ended, restore_variables
from memex_mcp.runtime.checkpoint_store import CorruptFile, Entry, Manifest, Skipped, Store
from memex_mcp.runtime.checkpoint_values import (
    ATOMS,
    RECHECK,
    Pickler,
    Refs,
    changed_while_pickled,
    is_large,
    not_restorable,
    parquet_writer,
    plain_crc,
    quiet,
    say,
    too_big,
    type_name,
)
from memex_mcp.runtime.history import History
from memex_mcp.runtime.rpc import Rpc
from memex_mcp.runtime.scope import size_bytes
from memex_mcp.runtime.submit import Submissions

_IDENT = re.compile(r"[^\W\d]\w*")
_PICKLE_SUFFIX = ".pkl"
_PARQUET_SUFFIX = ".parquet"


@dataclass
class _Known:
    """What the checkpoint holds for a name: which object, and the CRC of its pickle (0: none)."""

    obj_id: int
    crc: int
    saved: bool
    #: CRC of the value's plain pickle, for the cheap check after each cell (None: cannot).
    probe: int | None = None


@dataclass
class _Write:
    kind: str
    data: bytes

    def to(self, file: Any) -> None:
        file.write(self.data)


class Checkpointer:
    def __init__(self, shell: InteractiveShell, config: RuntimeConfig, history: History,
                 outputs: dict[int, str], submissions: Callable[[], list[Any]]) -> None:
        self._shell = shell
        self._ns = shell.user_ns
        self._hidden = shell.user_ns_hidden
        self._max = config.checkpoint_max_bytes
        self._history = history
        self._outputs = outputs
        self._submissions = submissions
        self._store = Store(Path(config.session_dir) / "checkpoint")
        self._manifest = Manifest()
        self._known: dict[str, _Known] = {}
        #: Values to write after the reply: big ones by name (pickled then), small ones already
        #: pickled (a snapshot, so later mutations cannot reach the checkpoint).
        self._pending: set[str] = set()
        self._writes: dict[str, _Write] = {}
        self._records: list[dict[str, Any]] = []
        self._obsolete: list[str] = []
        self._execution = 0
        self._scheduled = False
        self._saved_submissions = 0
        self._dirty = False
        # Cells can also end on other threads (subshells, sub-agents): one checkpoint at a time.
        self._lock = threading.RLock()
        #: Why the last checkpoint failed, if it did (kept for debugging; cells never see it).
        self.last_error: str | None = None
        # An existing checkpoint is not overwritten until `restore()` has read it.
        self._armed = config.checkpoint_max_bytes > 0 and not self._store.exists()

    def install(self) -> None:
        self._shell.events.register("post_run_cell", self.after_cell)
        atexit.register(self.flush)  # a polite shutdown right after a reply keeps that reply's changes
        kernel = getattr(self._shell, "kernel", None)
        if kernel is not None:
            # A request that arrives while the reply is still going out can be handled before the
            # write task runs: the files are written first, whichever comes first.
            handle = kernel.pre_handler_hook

            def pre_handler_hook() -> None:
                if threading.current_thread() is threading.main_thread():
                    self.flush()
                handle()

            kernel.pre_handler_hook = pre_handler_hook

    # -- saving ---------------------------------------------------------------------------------

    def after_cell(self, result: ExecutionResult) -> None:
        if not self._armed:
            return
        try:
            with self._lock, quiet():
                code = ""
                if len(self._history):
                    e = self._history[-1]
                    code = e.code
                    self._records.append({"number": e.number, "code": e.code, "output": e.output,
                                          "failed": e.failed, "seconds": e.seconds})
                self._scan(set(_IDENT.findall(code)), result.execution_count)
            self._schedule()
        except (Exception, KeyboardInterrupt) as exc:
            # A checkpoint never fails the user's cell (an interrupt was meant for the cell, which
            # has ended); next cell, every value is compared again.
            self.last_error = say(exc)
            self._known.clear()

    def _scan(self, mentioned: set[str], execution: int | None) -> None:
        current = self._user_variables()
        refs = self._refs(current)
        saved = self._known.keys() | self._manifest.variables.keys() | self._manifest.skipped.keys()
        for name in [n for n in saved if n not in current]:
            self._forget(name)
        for name, value in current.items():
            known = self._known.get(name)
            unchanged = known is not None and known.obj_id == id(value) and name not in mentioned and (
                known.probe is None or known.probe == plain_crc(value))
            if unchanged:
                continue
            if is_large(value):
                self._pending.add(name)
                continue
            self._snapshot(name, value, refs)
        self._execution = execution or self._execution

    def _snapshot(self, name: str, value: Any, refs: Refs) -> None:
        """Pickle a small value now; its file is written after the reply."""
        kind = type_name(value)
        if isinstance(value, types.ModuleType):
            old = self._manifest.variables.get(name)
            if old is None or old.module != value.__name__:
                self._set(name, value, Entry(kind, "module", module=value.__name__))
            return
        if reason := not_restorable(value):
            self._skip(name, value, Skipped(kind, reason))
            return
        estimate = size_bytes(value)
        if estimate is not None and estimate > self._max:  # a limit below 4 MB
            self._save_big(name, value, estimate)
            return
        try:
            buffer = io.BytesIO()
            Pickler(buffer, refs, value).dump(value)
        except Exception as exc:
            self._unpicklable(name, value, kind, exc)
            return
        data = buffer.getvalue()
        if len(data) > self._max:
            self._skip(name, value, Skipped(kind, too_big(len(data), self._max)))
            return
        crc, probe = zlib.crc32(data), plain_crc(value) if len(data) <= RECHECK else None
        known = self._known.get(name)
        if known is not None and known.saved and known.crc == crc:
            known.obj_id, known.probe = id(value), probe
            return
        self._writes[name] = _Write(kind, data)
        self._known[name] = _Known(id(value), crc, True, probe)

    def _set(self, name: str, value: Any, entry: Entry) -> None:
        self._set_entry(name, entry)
        self._known[name] = _Known(id(value), entry.crc, True)

    def _unpicklable(self, name: str, value: Any, kind: str, exc: Exception) -> None:
        if changed_while_pickled(exc):  # keep the version the manifest has; compare again next cell
            self._known.pop(name, None)
        else:
            self._skip(name, value, Skipped(kind, f"not picklable ({say(exc)})"))

    def _skip(self, name: str, value: Any, skipped: Skipped) -> None:
        self._forget(name)
        self._manifest.skipped[name] = skipped
        self._known[name] = _Known(id(value), 0, False)
        self._dirty = True

    def _forget(self, name: str) -> None:
        old = self._manifest.variables.pop(name, None)
        if old is not None and old.file:
            self._obsolete.append(old.file)
        if old is not None or self._manifest.skipped.pop(name, None) is not None:
            self._dirty = True
        self._known.pop(name, None)
        self._writes.pop(name, None)
        self._pending.discard(name)

    def _schedule(self) -> None:
        """Write what this cell changed once the reply is out, before the next request runs."""
        if self._scheduled:
            return
        lock = getattr(getattr(self._shell, "kernel", None), "_main_asyncio_lock", None)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or not isinstance(lock, asyncio.Lock):
            self.flush()
            return
        self._scheduled = True

        async def later() -> None:
            try:
                # The shell's own lock: requests queued behind this cell run after the writes.
                async with lock:
                    self.flush()
            finally:
                self._scheduled = False

        loop.create_task(later())

    def flush(self) -> None:
        """Write the files of the last cell's changes and commit the manifest."""
        if not (self._records or self._writes or self._pending or self._dirty):
            return
        try:
            with self._lock, quiet():
                self._flush()
        except (Exception, KeyboardInterrupt) as exc:
            # Some writes were dropped (a full disk, an interrupt): next cell, every value is
            # compared again, and what the manifest already names is committed then.
            self.last_error = say(exc)
            self._known.clear()

    def _flush(self) -> None:
        records, self._records = self._records, []
        for record in records:
            self._store.append_history(record)
        self._save_submissions()
        writes, self._writes = self._writes, {}
        for name, write in writes.items():
            filename, crc, size = self._store.write(self._manifest, name, _PICKLE_SUFFIX, write.to)
            self._set_entry(name, Entry(write.kind, "pickle", filename, crc, size))
        if self._pending:
            current = self._user_variables()
            refs = self._refs(current)
            pending, self._pending = self._pending, set()
            for name in sorted(pending):
                if name in current:
                    self._save_streamed(name, current[name], refs)
        if self._dirty:  # an unchanged scope is as of the execution that last changed it
            self._manifest.execution = self._execution
            self._store.commit(self._manifest, self._obsolete)
            self._obsolete, self._dirty = [], False

    def _set_entry(self, name: str, entry: Entry) -> None:
        old = self._manifest.variables.get(name)
        if old is not None and old.file:
            self._obsolete.append(old.file)
        self._manifest.variables[name] = entry
        self._manifest.skipped.pop(name, None)
        self._dirty = True

    def _save_streamed(self, name: str, value: Any, refs: Refs) -> None:
        """A big value, pickled straight into its file: no copy of it in memory."""
        kind = type_name(value)
        estimate = size_bytes(value) or 0
        if (reason := not_restorable(value)) is not None:
            self._skip(name, value, Skipped(kind, reason))
        elif estimate > self._max:
            self._save_big(name, value, estimate)
        else:
            try:
                filename, crc, size = self._store.write(
                    self._manifest, name, _PICKLE_SUFFIX, lambda f: Pickler(f, refs, value).dump(value))
            except Exception as exc:
                self._unpicklable(name, value, kind, exc)
                return
            if size > self._max:
                self._obsolete.append(filename)
                self._skip(name, value, Skipped(kind, too_big(size, self._max)))
                return
            self._set(name, value, Entry(kind, "pickle", filename, crc, size))

    def _save_big(self, name: str, value: Any, estimate: int) -> None:
        """Above the size limit only DataFrames and Arrow tables are kept, as Parquet."""
        kind = type_name(value)
        writer = parquet_writer(value)
        if writer is None:
            self._skip(name, value, Skipped(kind, too_big(estimate, self._max)))
            return
        fmt, write = writer
        try:
            filename, crc, size = self._store.write_file(self._manifest, name, _PARQUET_SUFFIX, write)
        except Exception as exc:
            self._skip(name, value, Skipped(kind, f"{too_big(estimate, self._max)}, and Parquet failed: {say(exc)}"))
            return
        self._set(name, value, Entry(kind, fmt, filename, crc, size))

    def _save_submissions(self) -> None:
        items = self._submissions()
        if len(items) != self._saved_submissions:
            with contextlib.suppress(TypeError, ValueError):
                self._store.write_json("submissions.json", items)
                self._saved_submissions = len(items)

    def _user_variables(self) -> dict[str, Any]:
        hidden, missing = self._hidden, object()
        return {name: value for name, value in list(self._ns.items())
                if not name.startswith("_") and hidden.get(name, missing) is not value}

    def _refs(self, current: dict[str, Any]) -> Refs:
        """Objects pickled by name: prelude objects, then the scope's own (non-atomic) values."""
        refs = {id(v): ("prelude", k) for k, v in self._hidden.items()
                if not k.startswith("_") and not isinstance(v, ATOMS)}
        refs.update((id(v), ("var", k)) for k, v in current.items()
                    if not isinstance(v, ATOMS) and not isinstance(v, types.ModuleType))
        return refs

    # -- restoring ------------------------------------------------------------------------------

    def restore(self, last_attempt: str | None = None, seconds: float = 30.0) -> RestoreReport:
        """Load the last checkpoint into the scope, each variable within `seconds` (see `Loader`);
        from now on checkpoints are written. `last_attempt`: "crashed" or "stuck" when the previous
        kernel's restore of this checkpoint ended that kernel; the variable it was loading is then
        set aside."""
        if last_attempt not in (None, "crashed", "stuck"):
            raise ValueError(f"last_attempt must be 'crashed', 'stuck' or None, not {last_attempt!r}")
        with self._lock:
            return self._restore(cast("Ended | None", last_attempt), seconds)

    def submitted(self) -> None:
        """An answer was submitted outside a cell (the submit tool): keep it now."""
        if self._armed:
            self.flush()
            with self._lock, contextlib.suppress(OSError):
                self._save_submissions()

    def _restore(self, ended: Ended | None, seconds: float) -> RestoreReport:
        writable = self._armed = self._max > 0
        # History first: it holds no user objects, so nothing in it can fail to load or crash.
        last = load_history(self._store, self._shell, self._history, self._outputs)
        history = len(self._history)
        try:
            manifest = self._store.manifest()
        except CorruptFile as exc:
            return _nothing_restored(str(exc), history)
        if manifest is None:  # a session whose cells never changed a variable
            return RestoreReport(found=bool(history), execution_count=last, history=history)
        restored, unrestored = restore_variables(self._store, manifest, self._ns, self._hidden, ended, seconds,
                                                 writable)
        for name, value in restored.items():
            self._ns[name] = value
            entry = manifest.variables[name]
            probe = plain_crc(value) if entry.format == "pickle" and entry.size <= RECHECK else None
            self._known[name] = _Known(id(value), entry.crc, True, probe)
        self._manifest = manifest
        submissions = self._store.read_json("submissions.json")
        if isinstance(submissions, list):
            self._submissions()[:] = submissions
            self._saved_submissions = len(submissions)
        return RestoreReport(found=True, restored=sorted(restored), unrestored=unrestored,
                             execution_count=manifest.execution, history=history)


def install_checkpoints(shell: InteractiveShell, config: RuntimeConfig, recorder: CellRecorder,
                        submissions: Submissions, rpc: Rpc) -> Checkpointer:
    """Checkpoint after every cell; give the server `restore`, and a `submit` that keeps the answer."""
    checkpointer = Checkpointer(shell, config, recorder.history, recorder.outputs, lambda: submissions.items)
    checkpointer.install()
    rpc.register("restore", lambda last_attempt=None: checkpointer.restore(
        last_attempt, config.restore_timeout).model_dump(mode="json"))

    def submit(value: Any = None, variable: str | None = None, schema: Any = None) -> Any:
        answer = submissions.submit(value, variable, schema)
        checkpointer.submitted()
        return answer

    rpc.register("submit", submit)
    return checkpointer


def _nothing_restored(reason: str, history: int) -> RestoreReport:
    return RestoreReport(found=True, history=history,
                         unrestored=[Unrestored(name="*", type="checkpoint", reason=reason)])
