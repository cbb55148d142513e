"""The server's execution path under faults: a death, a timeout or an interrupt is blamed on exactly
the request it belongs to, and nothing a stopped server or a killed kernel used is left behind."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from conftest import run, settings, text_of, wait_exit
from mcp import Client
from mcp.types import ImageContent
from test_stdio import RawSession

from memex_mcp.server import build_server

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
async def client(anyio_backend: str) -> AsyncIterator[Client]:
    async with Client(
        build_server(settings(timeout=30, interrupt_grace=2, call_timeout=3)), raise_exceptions=True
    ) as c:
        yield c


async def kernel_pid(client: Client) -> int:
    return int(text_of(await run(client, "import os\nos.getpid()")))


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.parametrize("delay", [0.0, 0.002, 0.02, 0.2])
async def test_code_sent_as_the_kernel_is_killed_after_a_reply_runs_once_on_the_new_kernel(
    client: Client, tmp_path: Path, delay: float
) -> None:
    marks = tmp_path / "marks.txt"
    pid = await kernel_pid(client)
    # Above 4 MB: pickled into its checkpoint file after the reply, so the kill lands while it is written.
    await run(client, "ballast = bytes(64_000_000)")
    os.kill(pid, signal.SIGKILL)  # as the OOM killer would; the call goes out at once, or after `delay`
    await anyio.sleep(delay)
    with anyio.fail_after(60):
        result = await run(client, f"with open({str(marks)!r}, 'a') as f:\n    print('ran', file=f)\n'done'")
    text = text_of(result)
    assert not result.is_error, text
    assert text.startswith("[memex] The kernel died after the previous call (killed by SIGKILL) and was replaced")
    assert "while running this code" not in text
    assert text.endswith("'done'")
    assert lines(marks) == ["ran"]
    assert await kernel_pid(client) != pid


async def test_code_sent_to_a_dead_kernel_waits_for_its_replacement_past_the_reply_deadline(
    anyio_backend: str, tmp_path: Path
) -> None:
    # A replacement kernel takes longer than this reply deadline to start; the code has not begun,
    # so there is nothing to leave running: the call waits for the new kernel and runs it there.
    marks = tmp_path / "marks.txt"
    async with Client(build_server(settings(reply_within=0.3))) as client:
        pid = await kernel_pid(client)
        os.kill(pid, signal.SIGKILL)
        with anyio.fail_after(60):
            result = await run(client, f"with open({str(marks)!r}, 'a') as f:\n    print('ran', file=f)\n'done'")
        text = text_of(result)
        assert not result.is_error, text
        assert "still running" not in text
        assert text.startswith("[memex] The kernel died after the previous call (killed by SIGKILL) and was replaced")
        assert text.endswith("'done'") and lines(marks) == ["ran"]


async def test_a_cell_that_kills_its_own_kernel_is_blamed_and_never_run_again(client: Client, tmp_path: Path) -> None:
    marks = tmp_path / "marks.txt"
    code = (
        f"import os, signal\nwith open({str(marks)!r}, 'a') as f:\n    print('ran', file=f)\n"
        "os.kill(os.getpid(), signal.SIGKILL)"
    )
    with anyio.fail_after(60):
        result = await run(client, code)
    assert result.is_error
    assert "The kernel died while running this code (killed by SIGKILL) and was replaced" in text_of(result)
    assert lines(marks) == ["ran"]
    with anyio.fail_after(60):
        assert text_of(await run(client, "6 * 7")) == "42"
    assert lines(marks) == ["ran"]


SLOW_REPR = (
    "import time\nclass Slow:\n    def __repr__(self):\n        time.sleep(60)\n        return 'Slow()'\nslow = Slow()"
)


async def test_a_list_scope_held_by_a_slow_repr_is_bounded_and_the_next_execution_is_not_interrupted(
    client: Client,
) -> None:
    await run(client, SLOW_REPR)
    with anyio.fail_after(30):  # its bound (3 s) and the interrupt's grace (2 s), with room to spare
        listing = await client.call_tool("list_scope", {})
    if listing.is_error:  # no listing in time: it says so and what to do
        assert "list_scope did not finish within 3 s; it was left to finish in the background" in text_of(listing)
        assert "pattern" in text_of(listing)
    with anyio.fail_after(30):
        after = await run(client, "print('after')", timeout=10)
    assert not after.is_error
    assert text_of(after) == "after"
    await run(client, "del slow")


async def test_a_cancelled_list_scope_does_not_leave_its_interrupt_to_the_next_execution(client: Client) -> None:
    await run(client, SLOW_REPR)
    with anyio.move_on_after(0.5):
        await client.call_tool("list_scope", {})
    with anyio.fail_after(30):
        after = await run(client, "print('after')", timeout=10)
    assert not after.is_error
    assert text_of(after) == "after"
    assert text_of(await run(client, "type(slow).__name__")) == "'Slow'"
    await run(client, "del slow")


async def test_the_timeout_clock_starts_when_the_kernel_begins_the_code(client: Client) -> None:
    # 0.3 s of checkpoint writing (a value over 4 MB, pickled after the reply) comes before the next
    # cell; that cell's own second of work fits its timeout of 1.5 s either way.
    await run(client, "import time\nballast = bytes(200_000_000)")
    with anyio.fail_after(30):
        result = await run(client, "time.sleep(1)\n'slept'", timeout=1.5)
    assert not result.is_error, text_of(result)
    assert text_of(result) == "'slept'"
    await run(client, "del ballast")


@pytest.mark.parametrize("timeout", [0, -1])
async def test_a_timeout_that_is_not_a_positive_finite_number_is_refused_before_the_code_runs(
    client: Client, tmp_path: Path, timeout: float
) -> None:
    marks = tmp_path / "marks.txt"
    result = await run(client, f"open({str(marks)!r}, 'w').close()", timeout=timeout)
    assert result.is_error
    assert "timeout must be a positive, finite number of seconds" in text_of(result)
    assert "the code was not run" in text_of(result)
    assert not marks.exists()


async def test_a_displayed_image_that_cannot_be_decoded_becomes_one_line_of_text(client: Client) -> None:
    code = (
        "from IPython.display import Image, display\nprint('before')\n"
        "display(Image(data=b'\\x89PNG\\r\\n\\x1a\\n' + b'not really a png' * 8, format='png'))\nprint('after')"
    )
    result = await run(client, code)
    assert not result.is_error
    assert not [c for c in result.content if isinstance(c, ImageContent)]
    before, note, after = text_of(result).splitlines()
    assert (before, after) == ("before", "after")
    assert note.startswith("[memex] A displayed image/png image was not returned: it could not be decoded (")


async def test_an_image_labelled_with_the_wrong_type_is_sent_with_its_real_one(client: Client) -> None:
    code = (
        "import io\nfrom PIL import Image as P\nfrom IPython.display import Image, display\n"
        "buf = io.BytesIO()\nP.new('RGB', (40, 30), (200, 0, 0)).save(buf, 'JPEG')\n"
        "display({'image/png': __import__('base64').b64encode(buf.getvalue()).decode()}, raw=True)"
    )
    result = await run(client, code)
    (image,) = [c for c in result.content if isinstance(c, ImageContent)]
    assert image.mime_type == "image/jpeg"


def test_a_nan_or_infinite_timeout_is_refused_before_the_code_runs(tmp_path: Path) -> None:
    # JSON as Python writes it (NaN, Infinity): the SDK's client would send null instead.
    marks = tmp_path / "marks.txt"
    session = RawSession()
    try:
        session.initialize()
        for timeout in [math.nan, math.inf, -math.inf]:
            reply = session.request(
                "tools/call",
                {
                    "name": "execute_code",
                    "arguments": {"code": f"open({str(marks)!r}, 'w').close()", "timeout": timeout},
                },
            )
            assert reply["result"]["isError"], reply
            text = reply["result"]["content"][0]["text"]
            assert (
                f"timeout must be a positive, finite number of seconds, not {timeout!r}; the code was not run" in text
            )
        assert not marks.exists()
    finally:
        session.kill()


def memex(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "memex_mcp", *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )


def test_a_state_dir_that_is_a_file_is_a_one_line_error_with_exit_code_2(tmp_path: Path) -> None:
    file = tmp_path / "state"
    file.write_text("")
    for state_dir, reason in [(file, "it is a file, not a directory"), (file / "below", "Not a directory")]:
        result = memex("--state-dir", str(state_dir))
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert result.stderr.startswith(f"memex-mcp: error: --state-dir {state_dir}: ")
        assert reason in result.stderr


def kernel_files(tmp: Path) -> list[str]:
    """What kernels and sessions of a server leave in its temporary directory, if anything."""
    return sorted(p.name for p in tmp.iterdir() if p.name.startswith("memex-") or p.suffix == ".json")


def wait_gone(pid: int) -> None:
    assert wait_exit(pid, 15)


@pytest.mark.parametrize("stop", ["sigterm", "stdin closed"])
def test_a_killed_kernel_and_a_stopped_server_leave_no_files_in_the_temp_dir(stop: str) -> None:
    session = RawSession()
    try:
        session.initialize()
        first = int(session.run("import os\nos.getpid()"))
        running = kernel_files(session.tmp)
        assert len([n for n in running if n.endswith(".json")]) == 1
        os.kill(first, signal.SIGKILL)
        wait_gone(first)
        second = int(session.run("import os\nos.getpid()").splitlines()[-1])
        assert second != first
        # the dead kernel's files are gone; the new one has one connection file and one socket dir
        replaced = kernel_files(session.tmp)
        assert len(replaced) == len(running) and not set(replaced) & (
            set(running) - {n for n in running if n.startswith("memex-ch-")}
        )
        assert session.proc.stdin is not None
        if stop == "sigterm":
            session.proc.send_signal(signal.SIGTERM)
        else:
            session.proc.stdin.close()
        assert session.proc.wait(timeout=30) == 0
        wait_gone(second)
        assert kernel_files(session.tmp) == []
    finally:
        session.kill()


def test_a_server_stopped_while_it_replaces_a_killed_kernel_leaves_no_files() -> None:
    session = RawSession()
    try:
        session.initialize()
        pid = int(session.run("import os\nos.getpid()"))
        os.kill(pid, signal.SIGKILL)
        wait_gone(pid)
        session.proc.send_signal(signal.SIGTERM)  # the replacement is starting now
        assert session.proc.wait(timeout=30) == 0
        deadline = time.monotonic() + 15
        while kernel_files(session.tmp) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert kernel_files(session.tmp) == []
    finally:
        session.kill()
