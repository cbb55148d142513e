"""Incremental checkpoints of the user scope after each execution.

After each cell, only cheap change detection runs, before the reply: a name is due to be saved when
- it is new, or bound to another object (identity);
- the cell's code may have changed it (`changes`: an assignment, augmented assignment or
  `del` through it, a method call on it that is not known to be read-only, passing it to a call
  other than a read-only builtin, an alias of such a name);
- its last pickle was small (≤ 256 KB) and quick (≤ 50 ms), and the cell mentions it or its plain C
  pickle (about 5 µs for a small dict, no hooks) no longer has the checksum it had when saved, which
  catches any mutation of it, even through a function that does not name it.
So a cell that only reads a large value (`len(df)`, `df.head()`, `sql(...)`) writes nothing.
What this misses: an in-place mutation of a large or slow-to-pickle value (or of one the plain
pickler cannot handle: lambdas, cell-defined functions) by code that does not name it (an alias made
in an earlier cell, a function defined in an earlier cell, a sub-agent's thread). Such a value is
saved again the next time a cell changes it by name.

All pickling and writing happens after the reply, on the kernel's main thread under its shell lock
(a task queued on that lock, and the hook that runs before each request), so the next request waits
for it, nothing is charged to the cell that made the change, and no later cell can mutate a value
while it is written. Sub-agents' threads are not stopped: a value one of them changes while it is
pickled keeps its previous version until the next cell. Values are saved one at a time, quick ones
first, and the manifest is committed at least every 0.2 s, so an interrupt or a crash in the middle
keeps every variable written until then; the names not yet written stay due for the next flush
(an interrupt there is swallowed: it was meant for a cell, and no cell is running). The manifest's
execution number is that of the last cell whose changes were all written.

Every look at a user's object (size, pickling, checksum) is guarded: an object that raises is
skipped, named with the reason in the manifest, and the rest of the scan goes on.
"""

from __future__ import annotations

import contextlib
import io
import threading
import time
import types
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from IPython.core.interactiveshell import ExecutionResult, InteractiveShell

from memex_mcp.protocol import RestoreReport, RuntimeConfig, SubmitReceipt, Unrestored
from memex_mcp.runtime import touchpoints
from memex_mcp.runtime.cells.history import History
from memex_mcp.runtime.checkpoint.changes import cell_names
from memex_mcp.runtime.checkpoint.load import load_history
from memex_mcp.runtime.checkpoint.restore import Ended, restore_variables
from memex_mcp.runtime.checkpoint.store import CorruptFile, Entry, Manifest, Skipped, Store
from memex_mcp.runtime.checkpoint.values import (
    ATOMS,
    INLINE,
    QUICK,
    RECHECK,
    Pickler,
    Refs,
    changed_while_pickled,
    estimate_size,
    length,
    not_restorable,
    parquet_writer,
    plain_crc,
    quiet,
    say,
    too_big,
    type_name,
    unpicklable_reason,
)
from memex_mcp.runtime.scope import user_variables
from memex_mcp.runtime.submit import Origin

_PICKLE_SUFFIX = ".pkl"
_PARQUET_SUFFIX = ".parquet"
#: During a long flush, the manifest is committed this often (seconds), so a crash loses little.
_COMMIT_EVERY = 0.2


@dataclass
class _Known:
    """What the checkpoint holds for a name: which object, and the CRC of its pickle (0: none)."""

    obj_id: int
    crc: int
    saved: bool
    #: CRC of the value's plain pickle, for the cheap check after each cell (None: cannot).
    probe: int | None = None
    #: Its last pickle was small and quick: a mention is enough to save it again.
    small: bool = False
    #: len() of a built-in container when saved: a different length is a change, without a probe.
    length: int | None = None


class Checkpointer:
    def __init__(
        self,
        shell: InteractiveShell,
        config: RuntimeConfig,
        history: History,
        submissions: Callable[[], list[Any]],
    ) -> None:
        self._shell = shell
        self._ns = shell.user_ns
        self._hidden = shell.user_ns_hidden
        self._max = config.checkpoint_max_bytes
        self._history = history
        self._submissions = submissions
        self._session = Path(config.session_dir)
        self._store = Store(self._session / "checkpoint")
        self._manifest = Manifest()
        self._known: dict[str, _Known] = {}
        #: Names to save at the next flush.
        self._pending: set[str] = set()
        #: Code of cells whose scan was cut short (an interrupt): looked at again by the next scan.
        self._unscanned: list[str] = []
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
        #: Told at each flush that changes the scope, with the names due (the viewer's feed).
        self.on_flush: Callable[[set[str]], None] | None = None
        # An existing checkpoint is not overwritten until `restore()` has read it.
        self._armed = config.checkpoint_max_bytes > 0 and not self._store.exists()

    def install(self) -> None:
        """Checkpoint after every cell. The owner calls `flush()` at exit: a polite shutdown right
        after a reply keeps that reply's changes."""
        self._shell.events.register("post_run_cell", self.after_cell)
        # A request that arrives while the reply is still going out can be handled before the
        # write task runs: the files are written first, whichever comes first.
        touchpoints.before_each_request(self._shell, self.flush)

    # -- what changed (before the reply) --------------------------------------------------------

    def after_cell(self, result: ExecutionResult) -> None:
        if not self._armed:
            return
        try:
            with self._lock, quiet():
                code = ""
                if len(self._history):
                    e = self._history[-1]
                    code = e.code
                    self._records.append(e.to_record())
                self._unscanned.append(code)
                self._scan(result.execution_count)
        except (Exception, KeyboardInterrupt) as exc:
            # A checkpoint never fails the user's cell (an interrupt was meant for the cell, which
            # has ended); the next scan looks at this cell's code again.
            self.last_error = say(exc)
        with contextlib.suppress(Exception):
            self._schedule()

    def _scan(self, execution: int | None) -> None:
        current = self._user_variables()
        saved = self._known.keys() | self._manifest.variables.keys() | self._manifest.skipped.keys()
        for name in [n for n in saved if n not in current]:
            self._forget(name)
        mentioned: set[str] = set()
        changed: set[str] = set()
        for code in self._unscanned:
            names = cell_names(code, self._shell.transform_cell)
            mentioned |= names.mentioned
            changed |= names.changed
        # A name bound to the same object as a changed one has changed too.
        ids = {id(current[n]) for n in changed if n in current}
        changed |= {n for n, v in current.items() if id(v) in ids}
        for name, value in current.items():
            if name not in self._pending and self._changed(name, value, mentioned, changed):
                self._pending.add(name)
        self._execution = execution or self._execution
        self._unscanned = []

    def _changed(self, name: str, value: Any, mentioned: set[str], changed: set[str]) -> bool:
        known = self._known.get(name)
        if known is None or known.obj_id != id(value) or name in changed:
            return True
        if not (known.small or known.probe is not None):
            return False  # large or slow: saved again only when the cell's code changes it
        if name in mentioned or (known.length is not None and length(value) != known.length):
            return True
        return known.probe is not None and plain_crc(value) != known.probe

    def _forget(self, name: str) -> None:
        old = self._manifest.variables.pop(name, None)
        if old is not None and old.file:
            self._obsolete.append(old.file)
        if old is not None or self._manifest.skipped.pop(name, None) is not None:
            self._dirty = True
        self._known.pop(name, None)
        self._pending.discard(name)

    # -- saving (after the reply) ---------------------------------------------------------------

    def _schedule(self) -> None:
        """Write what this cell changed once the reply is out, before the next request runs."""
        if self._scheduled:
            return
        self._scheduled = True
        # The shell's own lock: requests queued behind this cell run after the writes.
        if not touchpoints.after_reply(self._shell, self._flush_scheduled):
            self._scheduled = False
            self.flush()

    def _flush_scheduled(self) -> None:
        try:
            self.flush()
        finally:
            self._scheduled = False

    def flush(self) -> None:
        """Save the names due, one at a time, committing the manifest as it goes."""
        if not (self._records or self._pending or self._dirty):
            return
        try:
            with quiet():
                self._flush()
        except (Exception, KeyboardInterrupt) as exc:
            # What was written stays written; what was not stays due for the next flush.
            self.last_error = say(exc)

    def _flush(self) -> None:
        with self._lock:
            records, self._records = self._records, []
            for record in records:
                self._store.append_history(record)
            self._save_submissions()
            due = sorted(self._pending, key=lambda n: (self._last_size(n), n))
            # Most cells change no variable: then there is nothing to pickle, nor to refer to.
            current = self._user_variables() if due or self._dirty else {}
            refs = self._refs(current) if due else {}
            if due or self._dirty:
                self._tell(set(due))
        committed = time.monotonic()
        try:
            for name in due:
                with self._lock:
                    if name not in self._pending or name not in self._ns:
                        continue
                    self._save(name, self._ns[name], refs)
                    self._pending.discard(name)
                    if time.monotonic() - committed > _COMMIT_EVERY:
                        self._commit()
                        committed = time.monotonic()
        finally:
            with self._lock:
                self._commit()

    def _tell(self, due: set[str]) -> None:
        if self.on_flush is not None:
            with contextlib.suppress(Exception):  # the viewer's feed never costs a checkpoint
                self.on_flush(due)

    def _commit(self) -> None:
        if not self._dirty:  # an unchanged scope is as of the execution that last changed it
            return
        if not self._pending:
            self._manifest.execution = self._execution
        self._store.commit(self._manifest, self._obsolete)
        self._obsolete, self._dirty = [], False

    def _last_size(self, name: str) -> int:
        entry = self._manifest.variables.get(name)
        return entry.size if entry is not None else 0

    def _save(self, name: str, value: Any, refs: Refs) -> None:
        """Save one value; anything it raises (but an interrupt) makes it skipped, with the reason."""
        kind = type_name(value)
        if isinstance(value, types.ModuleType):
            old = self._manifest.variables.get(name)
            if old is None or old.module != value.__name__:
                self._set_entry(name, Entry(kind, "module", module=value.__name__))
            self._known[name] = _Known(id(value), 0, True)
            return
        if reason := not_restorable(value):
            self._skip(name, value, Skipped(kind, reason))
            return
        estimate = estimate_size(value)
        if estimate is not None and estimate > self._max:
            self._save_big(name, value, estimate)
            return
        try:
            self._save_pickle(name, value, kind, refs)
        except Exception as exc:
            if changed_while_pickled(exc):  # keep the version the manifest has; compare again next cell
                self._known.pop(name, None)
            else:
                self._skip(name, value, Skipped(kind, unpicklable_reason(value, exc)))

    def _save_pickle(self, name: str, value: Any, kind: str, refs: Refs) -> None:
        old = self._manifest.variables.get(name)
        started = time.perf_counter()
        filename, data = "", b""
        if old is not None and old.format == "pickle" and old.size <= INLINE:
            # Pickled in memory first: an unchanged value (mentioned, not mutated) is not rewritten.
            buffer = io.BytesIO()
            Pickler(buffer, refs, value).dump(value)
            data = buffer.getvalue()
            crc, size = zlib.crc32(data), len(data)
        else:  # straight into its file: no copy of a big value in memory
            filename, crc, size = self._store.write(
                self._manifest, name, _PICKLE_SUFFIX, lambda f: Pickler(f, refs, value).dump(value)
            )
        quick = time.perf_counter() - started <= QUICK and size <= RECHECK
        if size > self._max:
            if filename:
                self._obsolete.append(filename)
            self._skip(name, value, Skipped(kind, too_big(size, self._max)))
            return
        known = _Known(id(value), crc, True, plain_crc(value) if quick else None, quick, length(value))
        if old is not None and old.format == "pickle" and (old.crc, old.size) == (crc, size):
            if filename:
                (self._store.root / filename).unlink(missing_ok=True)
        else:
            if not filename:
                filename, crc, size = self._store.write(self._manifest, name, _PICKLE_SUFFIX, lambda f: f.write(data))
            self._set_entry(name, Entry(kind, "pickle", filename, crc, size))
        self._known[name] = known

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
        self._set_entry(name, Entry(kind, fmt, filename, crc, size))
        self._known[name] = _Known(id(value), crc, True)

    def _skip(self, name: str, value: Any, skipped: Skipped) -> None:
        self._forget(name)
        self._manifest.skipped[name] = skipped
        self._known[name] = _Known(id(value), 0, False)
        self._dirty = True

    def _set_entry(self, name: str, entry: Entry) -> None:
        old = self._manifest.variables.get(name)
        if old is not None and old.file:
            self._obsolete.append(old.file)
        self._manifest.variables[name] = entry
        self._manifest.skipped.pop(name, None)
        self._dirty = True

    def _save_submissions(self) -> None:
        items = self._submissions()
        if len(items) != self._saved_submissions:
            with contextlib.suppress(TypeError, ValueError):
                self._store.write_json("submissions.json", items)
                self._saved_submissions = len(items)

    def _user_variables(self) -> dict[str, Any]:
        # Modules too, unlike list_scope: they are saved as imports, so a restored scope has `pd` back.
        return user_variables(self._ns, self._hidden, modules=True)

    def _refs(self, current: dict[str, Any]) -> Refs:
        """Objects pickled by name: prelude objects, then the scope's own (non-atomic) values."""
        refs = {
            id(v): ("prelude", k) for k, v in self._hidden.items() if not k.startswith("_") and not isinstance(v, ATOMS)
        }
        refs.update(
            (id(v), ("var", k))
            for k, v in current.items()
            if not isinstance(v, ATOMS) and not isinstance(v, types.ModuleType)
        )
        return refs

    # -- restoring ------------------------------------------------------------------------------

    def restore(self, last_attempt: str | None = None, seconds: float = 30.0) -> RestoreReport:
        """Load the last checkpoint into the scope, each variable within `seconds` (see `VariableLoader`);
        from now on checkpoints are written. `last_attempt`: "crashed" or "stuck" when the previous
        kernel's restore of this checkpoint ended that kernel; the variable it was loading is then
        set aside."""
        if last_attempt not in (None, "crashed", "stuck"):
            raise ValueError(f"last_attempt must be 'crashed', 'stuck' or None, not {last_attempt!r}")
        with self._lock:
            return self._restore(cast("Ended | None", last_attempt), seconds)

    def submitted(self, receipt: SubmitReceipt, origin: Origin) -> None:
        """An answer was submitted: one submitted outside a cell (the submit tool) is kept now; a
        cell's is kept with the cell's changes, after its reply. The tool submits from a subshell,
        possibly while a cell runs: then only the answers are written, under the lock, and the scope
        (which that cell may be changing) waits for the flush after the cell."""
        if origin == "tool" and self._armed:
            if threading.current_thread() is threading.main_thread():
                self.flush()
            with self._lock, contextlib.suppress(OSError):
                self._save_submissions()

    def _restore(self, ended: Ended | None, seconds: float) -> RestoreReport:
        writable = self._armed = self._max > 0
        # History first: it holds no user objects, so nothing in it can fail to load or crash.
        last = load_history(self._store, self._shell, self._history, self._session)
        history = len(self._history)
        try:
            manifest = self._store.manifest()
        except CorruptFile as exc:
            return _nothing_restored(str(exc), history)
        if manifest is None:  # a session whose cells never changed a variable
            return RestoreReport(found=bool(history), execution_count=last, history=history)
        restored, unrestored = restore_variables(
            self._store, manifest, self._ns, self._hidden, ended, seconds, writable
        )
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
        return RestoreReport(
            found=True,
            restored=sorted(restored),
            unrestored=unrestored,
            execution_count=manifest.execution,
            history=history,
        )


def _nothing_restored(reason: str, history: int) -> RestoreReport:
    return RestoreReport(
        found=True, history=history, unrestored=[Unrestored(name="*", type="checkpoint", reason=reason)]
    )
