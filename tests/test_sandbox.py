"""Confined kernels (`--sandbox`), through a real client: what a kernel cannot reach, and that the
scratchpad still works confined, for every mechanism that works on this machine."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest
from conftest import STATE_DIR, kill, process_alive, run, settings, text_of, wait_exit
from mcp import Client

from memex_mcp.server import build_server, sandbox
from memex_mcp.server.cli import parse, sandbox_setting

pytestmark = pytest.mark.anyio

SECRET = "another tenant's secret"


@pytest.fixture(scope="module", params=["bubblewrap", "landlock"])
def mechanism(request: pytest.FixtureRequest) -> str:
    problem = sandbox.bubblewrap_problem() if request.param == "bubblewrap" else sandbox.landlock_problem()
    if problem is not None:
        pytest.skip(f"{request.param} cannot confine kernels on this machine: {problem}")
    return str(request.param)


@pytest.fixture(scope="module")
def data_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="memex-sandbox-data-") as name:
        path = Path(name)
        (path / "fruit.csv").write_text("name,amount\nkiwi,3\nfig,4\n")
        (path / "orchard.md").write_text("# Orchard\n\nThe quince harvest came in early this year.\n")
        yield path


@pytest.fixture(scope="module")
def other_session() -> Path:
    """A file in another session's directory under the same state dir, as its checkpoint would be."""
    other = STATE_DIR / "sessions" / f"other-{uuid.uuid4().hex[:8]}"
    other.mkdir(parents=True)
    (other / "checkpoint.pkl").write_text(SECRET)
    return other


@pytest.fixture(scope="module")
async def client(anyio_backend: str, mechanism: str, data_dir: Path) -> AsyncIterator[Client]:
    server = build_server(settings(sandbox=mechanism, data_dirs=(data_dir,), timeout=30, interrupt_grace=2))
    async with Client(server, raise_exceptions=True) as c:
        yield c


async def host_pid(client: Client) -> int:
    """The kernel's pid as this process sees it (under bubblewrap the kernel's own is 2): the process
    that runs the kernel with its connection file, not a wrapper around it."""
    code = "from ipykernel.kernelapp import IPKernelApp\nprint(IPKernelApp.instance().abs_connection_file)"
    connection = text_of(await run(client, code)).strip()
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue
        if connection in argv and "memex_mcp.runtime.launch" in argv and "bwrap" not in Path(argv[0]).name:
            return int(entry.name)
    raise AssertionError(f"no kernel process runs with {connection}")


async def test_a_confined_kernel_cannot_read_another_sessions_files(client: Client, other_session: Path) -> None:
    text = text_of(await run(client, f"print(open({str(other_session / 'checkpoint.pkl')!r}).read())"))
    assert SECRET not in text
    assert "PermissionError" in text or "FileNotFoundError" in text
    listing = text_of(await run(client, f"import os\nprint(os.listdir({str(STATE_DIR / 'sessions')!r}))"))
    assert other_session.name not in listing


async def test_a_confined_kernel_cannot_write_outside_its_own_directories(client: Client) -> None:
    name = f"memex-escape-{uuid.uuid4().hex[:8]}"
    targets = [STATE_DIR / name, Path(tempfile.gettempdir()) / name, Path.home() / name, STATE_DIR / "cache" / name]
    for target in targets:
        text = text_of(await run(client, f"open({str(target)!r}, 'w').write('escaped')"))
        assert "Error" in text
        assert not target.exists(), target


async def test_a_confined_kernel_cannot_open_a_tcp_connection_to_a_local_listener(client: Client) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        port = listener.getsockname()[1]
        code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=5)"
        text = text_of(await run(client, code))
        assert "Error" in text
        with pytest.raises(BlockingIOError):
            listener.accept()


async def test_nothing_outside_reaches_a_tcp_port_a_confined_kernel_listens_on(client: Client) -> None:
    # Landlock refuses the bind; under bubblewrap it succeeds in the kernel's own empty network.
    code = (
        "import socket\ntry:\n    s = socket.create_server(('127.0.0.1', 0))\n    print(s.getsockname()[1])\n"
        "except OSError as e:\n    print(repr(e))"
    )
    text = text_of(await run(client, code))
    if text.isdigit():
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", int(text)), timeout=5).close()
    else:
        assert "PermissionError" in text


async def test_a_confined_kernel_cannot_signal_a_process_outside_it(client: Client) -> None:
    with subprocess.Popen(["sleep", "60"]) as victim:
        try:
            text = text_of(await run(client, f"import os, signal\nos.kill({victim.pid}, signal.SIGTERM)"))
            assert "PermissionError" in text or "ProcessLookupError" in text
            assert process_alive(victim.pid)
        finally:
            victim.kill()


async def test_a_confined_kernel_sees_no_process_outside_it(client: Client) -> None:
    text = text_of(
        await run(client, "import os\ntry:\n    print(os.listdir('/proc'))\nexcept OSError as e:\n    print(repr(e))")
    )
    assert f"'{os.getpid()}'" not in text
    assert "PermissionError" in text or "'1'" in text


async def test_the_scratchpad_works_confined_variables_tables_and_documents(client: Client) -> None:
    assert text_of(await run(client, "print('hello')")) == "hello"
    await run(client, "kept = [1, 2]")
    assert text_of(await run(client, "kept + [3]")) == "[1, 2, 3]"
    assert "7" in text_of(await run(client, "sql('select sum(amount) as total from fruit')"))
    hits = text_of(await run(client, "print(docs.search('quince harvest')[0].doc)"))
    assert "orchard" in hits


async def test_a_confined_kernels_document_index_lives_in_its_own_session(client: Client) -> None:
    await run(client, "docs.search('quince')")
    config = "__import__('memex_mcp.runtime.config').runtime.config.load()"
    cache = text_of(await run(client, f"print({config}.cache_dir)"))
    session = text_of(await run(client, f"print({config}.session_dir)"))
    assert Path(cache) == Path(session) / "cache"
    assert (Path(cache) / "documents.sqlite3").exists()


async def test_a_killed_confined_kernel_comes_back_with_its_variables(client: Client) -> None:
    await run(client, "survivor = {'a': 1}")
    await kill(await host_pid(client))
    with anyio.fail_after(60):
        note = text_of(await run(client, "survivor"))
    assert note.startswith("[memex] The kernel died after the previous call (killed by SIGKILL) and was replaced")
    assert note.endswith("{'a': 1}")


async def test_a_confined_kernel_is_interrupted_on_timeout_and_keeps_its_scope(client: Client) -> None:
    await run(client, "before = 'kept'")
    with anyio.fail_after(60):
        text = text_of(await run(client, "import time\nwhile True: time.sleep(0.05)", timeout=1))
    assert "was interrupted. The kernel kept its state." in text
    assert text_of(await run(client, "before")) == "'kept'"


async def test_a_confined_kernels_own_death_is_blamed_on_the_cell_that_caused_it(client: Client) -> None:
    with anyio.fail_after(60):
        result = await run(client, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    assert result.is_error
    assert "The kernel died while running this code (killed by SIGKILL) and was replaced" in text_of(result)


async def test_closing_the_server_stops_the_confined_kernel_its_children_and_its_marker(
    anyio_backend: str, mechanism: str
) -> None:
    name = f"confined-{uuid.uuid4().hex[:8]}"
    tag = str(60 + int(uuid.uuid4().int % 1000) / 1000)  # a sleep this test alone starts
    async with Client(build_server(settings(sandbox=mechanism, session=name)), raise_exceptions=True) as c:
        await run(c, f"import subprocess\nchild = subprocess.Popen(['sleep', {tag!r}])")
        kernel = await host_pid(c)
        child = next(int(p.name) for p in Path("/proc").iterdir() if _argv(p) == ["sleep", tag])
        # The marker the kernel writes is the one the server reads (a kernel in a pid namespace
        # does not know its pid as the server sees it: the server names it, ending in its own pid).
        markers = [m.name for m in (STATE_DIR / "sessions" / name).glob(".executing-*")]
        key = rf"[0-9a-f]{{8}}-{os.getpid()}" if mechanism == "bubblewrap" else str(kernel)
        assert len(markers) == 1 and re.fullmatch(rf"\.executing-{key}", markers[0]), markers
    assert wait_exit(kernel) and wait_exit(child)
    assert list((STATE_DIR / "sessions" / name).glob(".executing-*")) == []


def _argv(process: Path) -> list[str]:
    try:
        return (process / "cmdline").read_bytes().decode().split("\0")[:-1]
    except OSError:
        return []


def test_an_unknown_sandbox_is_refused_at_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse(["--sandbox", "nonsense"])
    assert exit_.value.code == 2
    assert "--sandbox" in capsys.readouterr().err


def test_an_unknown_sandbox_in_the_environment_is_refused_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MEMEX_SANDBOX", "nonsense")
    with pytest.raises(SystemExit) as exit_:
        parse([])
    assert exit_.value.code == 2
    assert "--sandbox: Input should be 'auto', 'bubblewrap', 'landlock' or 'none'" in capsys.readouterr().err


def test_kernels_are_confined_by_default_over_http_and_not_over_stdio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEMEX_SANDBOX", raising=False)
    assert parse([])[1].sandbox == "none"
    assert sandbox_setting(None, "stdio") == "none"
    assert sandbox_setting(None, "http") == "auto"
    assert sandbox_setting("landlock", "http") == "landlock"
    assert parse(["--sandbox", "landlock"])[1].sandbox == "landlock"


def test_auto_picks_bubblewrap_where_it_works_and_landlock_otherwise() -> None:
    expected = "bubblewrap" if sandbox.bubblewrap_problem() is None else "landlock"
    if sandbox.bubblewrap_problem() is not None and sandbox.landlock_problem() is not None:
        with pytest.raises(sandbox.SandboxUnavailable, match="--sandbox none"):
            sandbox.choose("auto")
        return
    assert sandbox.choose("auto") == expected
    assert sandbox.describe(sandbox.choose("auto")).startswith("kernels confined with")
    assert sandbox.choose("none") is None


def test_a_sandbox_asked_for_by_name_that_cannot_work_is_refused_at_start() -> None:
    # Without bwrap on the PATH, bubblewrap cannot work: the server must refuse, not run unconfined.
    with tempfile.TemporaryDirectory() as empty:
        started = subprocess.run(
            [sys.executable, "-m", "memex_mcp", "--sandbox", "bubblewrap"],
            env={**os.environ, "PATH": empty},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert started.returncode == 2
    assert "--sandbox bubblewrap: bwrap is not installed" in started.stderr
