"""Restoring a checkpoint never loses a saved value and never hangs the session: a restore that is
stopped sets nothing aside, one that crashes the kernel sets aside only the value that crashed it,
and a value whose loading blocks is skipped."""

from __future__ import annotations

import json
import os
import signal
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from conftest import kill_kernel, run, settings, text_of, wait_exit
from mcp import Client
from test_named_sessions import Server
from test_recovery import restored, session_dir

from memex_mcp.server import build_server

pytestmark = pytest.mark.anyio

KEPT = "set aside: its saved value is kept ({}) until you bind {} again"


def loads_with(expression: str, name: str = "Slow") -> str:
    """A cell defining class `name`, whose instances unpickle as the value of `expression`."""
    return f"class {name}:\n    def __reduce__(self):\n        return (eval, ({expression!r},))\n"


def saved_files(checkpoint: Path) -> list[Path]:
    """Every file the session's manifest names, set aside or not."""
    manifest = json.loads((checkpoint / "manifest.json").read_bytes())
    entries = [*manifest["variables"].values(), *(a["entry"] for a in manifest.get("aside", {}).values())]
    return [checkpoint / e["file"] for e in entries if e["file"]]


def test_a_server_stopped_while_it_restores_sets_nothing_aside_and_keeps_every_file() -> None:
    state = Path(tempfile.mkdtemp(prefix="memex-stop-"))  # short: a socket path lives in it
    args = ("--session", "stopped", "--state-dir", str(state))
    started = str(state / "loading")
    # Unpickling `slow` tells the test its kernel's pid (when the test listens), then takes 3 s.
    slow = (
        f"(__import__('os').path.exists({started!r}) and ((s := __import__('socket').socket(1)).connect("
        f"{started!r}), s.sendall(str(__import__('os').getpid()).encode()), s.close()), "
        "__import__('time').sleep(3), 'slow value')[-1]"
    )
    first = Server(*args)
    try:
        first.run("small = {'important': 42}\n" + loads_with(slow) + "slow = Slow()")
        first.run("'written'")  # the next request waits for the checkpoint's files
    finally:
        first.kill()
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(started)
        listener.listen(1)
        listener.settimeout(60)
        second = Server(*args)  # its kernel restores at launch
        try:
            connection, _ = listener.accept()
            with connection:
                kernel = int(connection.recv(64))  # it is loading `slow` now
            second.proc.send_signal(signal.SIGTERM)
            assert second.proc.wait(timeout=30) is not None
            assert wait_exit(kernel)
        finally:
            second.kill()
    os.unlink(started)
    third = Server(*args)
    try:
        text = third.run("small, slow, Slow.__name__")
        assert text == (
            "[memex] restored session stopped: 3 variable(s) (Slow, slow, small) and 2 execution(s) of "
            "history, as of execution [1]; tables are kept in its database.\n"
            "({'important': 42}, 'slow value', 'Slow')"
        )
        files = saved_files(state / "sessions" / "stopped" / "checkpoint")
        assert len(files) == 3 and all(f.exists() for f in files)
    finally:
        third.kill()


async def test_a_value_whose_loading_crashes_the_kernel_is_set_aside_alone_until_its_name_is_bound_again(
    anyio_backend: str,
) -> None:
    name = f"poisoned-{uuid.uuid4().hex[:8]}"
    with anyio.fail_after(120):
        async with Client(build_server(settings(session=name)), raise_exceptions=True) as first:
            await run(
                first, "plain = [1, 2]\n" + loads_with("__import__('os')._exit(1)", "Poison") + "poison = Poison()"
            )
            checkpoint = await session_dir(first) / "checkpoint"
        async with Client(build_server(settings(session=name)), raise_exceptions=True) as second:
            text = text_of(await run(second, "plain, 'poison' in globals()"))
            assert text == (
                f"[memex] restored session {name}: 2 variable(s) (Poison, plain) and 2 execution(s) of "
                "history, as of execution [1]; tables are kept in its database; not restored: poison "
                "(Poison: loading it crashed the kernel; "
                f"{KEPT.format('not loaded again', 'poison')}).\n([1, 2], False)"
            )
            (poison_file,) = [f for f in saved_files(checkpoint) if f.name.startswith("poison.")]
            assert poison_file.exists()
        async with Client(build_server(settings(session=name)), raise_exceptions=True) as third:
            text = text_of(await run(third, "poison = 'bound again'"))
            assert "not restored: poison (Poison: loading it crashed the kernel;" in text  # not tried: no crash
            await run(third, "'written'")  # the next request waits for the checkpoint's files
            assert not poison_file.exists()  # replaced by the value bound since
        async with Client(build_server(settings(session=name)), raise_exceptions=True) as fourth:
            text = text_of(await run(fourth, "poison"))
            assert text.endswith("tables are kept in its database.\n'bound again'")


@pytest.fixture(scope="module")
async def bounded(anyio_backend: str) -> AsyncIterator[Client]:
    """A server that gives each variable 2 s to load, and the whole restore 20 s."""
    async with Client(build_server(settings(timeout=30, restore_timeout=2)), raise_exceptions=True) as c:
        yield c


async def test_a_value_whose_unpickling_blocks_is_skipped_and_named_and_the_session_serves(bounded: Client) -> None:
    await run(
        bounded,
        "kept = {'a': 1}\n"
        + loads_with("__import__('time').sleep(300)", "Blocker")
        + "blocker = Blocker()\nafter = 'loaded after it'",
    )
    with anyio.fail_after(60):
        names, lost = restored(await kill_kernel(bounded))
        assert {"kept", "after", "Blocker"} <= set(names)
        assert lost["blocker"] == (
            f"Blocker: loading it did not finish within 2 s; {KEPT.format('not loaded again', 'blocker')}"
        )
        listing = await bounded.call_tool("list_scope", {"pattern": "kept"})
        assert not listing.is_error
        assert (
            text_of(await run(bounded, "kept, after, 'blocker' in globals()")) == "({'a': 1}, 'loaded after it', False)"
        )
        await run(bounded, "del blocker, Blocker")


async def test_a_restore_stuck_holding_the_interpreter_is_ended_and_only_that_value_is_set_aside(
    bounded: Client,
) -> None:
    # A C call that keeps the GIL: no thread of the kernel runs until it returns.
    await run(
        bounded,
        "steady = 'here'\n" + loads_with("__import__('ctypes').PyDLL(None).sleep(300)", "Holder") + "holder = Holder()",
    )
    with anyio.fail_after(90):
        note = await kill_kernel(bounded)
        names, lost = restored(note)
        assert "steady" in names
        assert lost["holder"] == (
            "Holder: loading it did not finish in time and the kernel had to be replaced; "
            f"{KEPT.format('not loaded again', 'holder')}"
        )
        assert text_of(await run(bounded, "steady, 'holder' in globals()")) == "('here', False)"
        await run(bounded, "del holder, Holder")


async def test_a_value_that_fails_to_load_is_kept_and_comes_back_once_it_loads_again(
    bounded: Client,
    tmp_path: Path,
) -> None:
    needed = tmp_path / "needed.txt"
    needed.write_text("back")
    await run(bounded, "steady = 1\n" + loads_with(f"open({str(needed)!r}).read()", "Fragile") + "fragile = Fragile()")
    needed.unlink()
    with anyio.fail_after(60):
        names, lost = restored(await kill_kernel(bounded))
        assert lost["fragile"] == (
            f"Fragile: could not be loaded (FileNotFoundError: [Errno 2] No such file or "
            f"directory: '{needed}'); "
            f"{KEPT.format('tried again at the next restore', 'fragile')}"
        )
        await run(bounded, "steady += 1")  # a checkpoint written meanwhile keeps it
        needed.write_text("back")
        names, lost = restored(await kill_kernel(bounded))
        assert "fragile" in names and "fragile" not in lost
        assert text_of(await run(bounded, "fragile, steady")) == "('back', 2)"


async def test_a_checkpoint_an_earlier_version_set_aside_comes_back_with_its_files(anyio_backend: str) -> None:
    name = f"legacy-{uuid.uuid4().hex[:8]}"
    with anyio.fail_after(60):
        async with Client(build_server(settings(session=name)), raise_exceptions=True) as first:
            await run(first, "import pandas as pd\nframe = pd.DataFrame({'a': [1, 2]})\nsmall = {'important': 42}")
            checkpoint = await session_dir(first) / "checkpoint"
        # What earlier versions left after a restore they took for a crash.
        (checkpoint / "manifest.json").rename(checkpoint / "manifest.crashed.json")
        (checkpoint / "restoring").touch()
        async with Client(build_server(settings(session=name)), raise_exceptions=True) as second:
            text = text_of(await run(second, "small, frame['a'].sum()"))
            assert text.endswith("tables are kept in its database.\n({'important': 42}, np.int64(3))")
            assert "3 variable(s) (frame, pd, small)" in text
            files = saved_files(checkpoint)
            assert len(files) == 2 and all(f.exists() for f in files)
            assert not (checkpoint / "manifest.crashed.json").exists()
