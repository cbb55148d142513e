"""Which variables a restore loads, and what becomes of those that do not come back.

Only a restore that ended the kernel sets a variable aside for it: the server says so (`ended`)
when it starts the next kernel, and the variable the marker names is the one that was loading. A
restore that merely stopped (the server was stopped, the client left) sets nothing aside: the next
one loads everything again. Nothing that does not come back is forgotten (see `store`).
"""

from __future__ import annotations

from typing import Any, Literal

from memex_mcp.protocol import Unrestored
from memex_mcp.runtime.checkpoint.load import Failure, VariableLoader
from memex_mcp.runtime.checkpoint.store import Aside, Entry, Manifest, Store

#: How the previous restore of this checkpoint ended the kernel: it died, or it stopped answering.
Ended = Literal["crashed", "stuck"]

_ENDED: dict[Ended, str] = {
    "crashed": "loading it crashed the kernel",
    "stuck": "loading it did not finish in time and the kernel had to be replaced",
}


def restore_variables(
    store: Store,
    manifest: Manifest,
    ns: dict[str, Any],
    hidden: dict[str, Any],
    ended: Ended | None,
    seconds: float,
    writable: bool,
) -> tuple[dict[str, Any], list[Unrestored]]:
    """Load `manifest`'s variables, each within `seconds` (see `VariableLoader`); returns those that came
    back, and every one that did not, with why. `writable`: this process owns the checkpoint, so
    it may record what was set aside and remove leftovers; otherwise it changes no file but the
    marker."""
    changed = store.has_legacy() or bool(manifest.skipped)
    with store.restoring() as marker:
        blamed = marker.previous if ended is not None else ""
        if entry := _entry(manifest, blamed):
            manifest.variables.pop(blamed, None)
            manifest.aside[blamed] = Aside(entry, _ENDED[ended or "crashed"], retry=False)
            if writable:  # now: should the next variable crash the kernel too, this one stays aside
                store.commit(manifest, [])
        for name in [n for n, a in manifest.aside.items() if a.retry]:
            manifest.variables[name] = manifest.aside.pop(name).entry
            changed = True
        if writable:
            store.clean(manifest)
        loaded, failed = VariableLoader(store, manifest, ns, hidden, marker, seconds).load_all()
    for name, failure in failed.items():
        manifest.aside[name] = _set_aside(manifest.variables.pop(name), failure)
        changed = True
    unrestored = [
        Unrestored(name=name, type=a.entry.type, reason=_kept(name, a), file=a.entry.file)
        for name, a in manifest.aside.items()
    ]
    unrestored += [Unrestored(name=name, type=s.type, reason=s.reason) for name, s in manifest.skipped.items()]
    manifest.skipped = {}  # in no scope now; a name bound again is saved again
    if writable and changed:
        store.commit(manifest, [])
        store.retire_legacy()
    return loaded, sorted(unrestored, key=lambda u: u.name)


def _entry(manifest: Manifest, name: str) -> Entry | None:
    if name in manifest.variables:
        return manifest.variables[name]
    aside = manifest.aside.get(name)
    return aside.entry if aside is not None and aside.retry else None


def _set_aside(entry: Entry, failure: Failure) -> Aside:
    return Aside(entry, failure.reason, failure.retry)


def _kept(name: str, aside: Aside) -> str:
    """The reason, and what becomes of the saved value, for the model."""
    if not aside.entry.file:
        return aside.reason
    then = "tried again at the next restore" if aside.retry else "not loaded again"
    return f"{aside.reason}; set aside: its saved value is kept ({then}) until you bind {name} again"
