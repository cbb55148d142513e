"""Timeouts, interrupts, dying kernels and cancelled calls: the session always keeps working."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from conftest import kill, run, settings, text_of
from mcp import Client

from memex_mcp.server import build_server

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
async def client(anyio_backend: str) -> AsyncIterator[Client]:
    async with Client(build_server(settings(timeout=30, interrupt_grace=1)), raise_exceptions=True) as c:
        yield c


async def kernel_pid(client: Client) -> int:
    return int(text_of(await run(client, "import os\nos.getpid()")))


async def test_an_endless_loop_times_out_and_the_next_call_still_sees_the_variables(client: Client) -> None:
    await run(client, "before_loop = 'kept'")
    with anyio.fail_after(20):
        result = await run(client, "while True:\n    pass", timeout=1)
    assert result.is_error
    assert text_of(result) == "TimeoutError: the execution exceeded 1 s and was interrupted. The kernel kept its state."
    assert text_of(await run(client, "before_loop")) == "'kept'"


async def test_output_printed_before_a_timeout_is_returned(client: Client) -> None:
    result = await run(client, "import time\nprint('started', flush=True)\ntime.sleep(60)", timeout=1)
    assert result.is_error
    assert text_of(result).startswith("started\n")
    assert "exceeded 1 s" in text_of(result)


async def test_code_that_ignores_the_interrupt_gets_the_kernel_restarted_with_its_scope(client: Client) -> None:
    pid = await kernel_pid(client)
    await run(client, "kept = 1")
    code = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
    with anyio.fail_after(30):
        result = await run(client, code, timeout=1)
    assert result.is_error
    assert "did not stop within 1 s of the interrupt, so the kernel was restarted; restored the variables" in text_of(
        result
    )
    assert await kernel_pid(client) != pid
    assert text_of(await run(client, "kept")) == "1"


async def test_a_kernel_that_dies_on_the_interrupt_is_said_to_have_died_and_comes_back(client: Client) -> None:
    await run(client, "kept_too = 2")
    code = "import os, signal\nsignal.signal(signal.SIGINT, lambda *_: os._exit(4))\nwhile True:\n    pass"
    with anyio.fail_after(30):
        result = await run(client, code, timeout=1)
    assert result.is_error
    assert text_of(result).startswith(
        "TimeoutError: the execution exceeded 1 s and was interrupted. The kernel died on the interrupt "
        "(exit code 4) and was replaced by a new one; restored the variables"
    )
    assert text_of(await run(client, "kept_too")) == "2"


async def test_a_kernel_killed_between_calls_is_replaced_and_the_next_call_says_so(client: Client) -> None:
    await run(client, "survivor = 1")
    # Its checkpoint is written right after its reply: a kill in that instant would lose it.
    pid = await kernel_pid(client)
    await kill(pid)
    with anyio.fail_after(30):
        result = await run(client, "'alive'")
    text = text_of(result)
    assert text.startswith("[memex] The kernel died after the previous call (killed by SIGKILL) and was replaced")
    assert text.endswith("'alive'")
    assert "survivor" in text
    assert await kernel_pid(client) != pid
    assert text_of(await run(client, "survivor")) == "1"


async def test_a_kernel_that_dies_mid_execution_is_reported_in_that_result(client: Client) -> None:
    with anyio.fail_after(30):
        result = await run(client, "print('going', flush=True)\nimport os\nos._exit(3)")
    assert result.is_error
    assert "The kernel died while running this code (exit code 3) and was replaced by a new one" in text_of(result)
    assert text_of(await run(client, "6 * 7")) == "42"


async def test_a_cancelled_call_interrupts_its_execution_and_the_server_keeps_serving(client: Client) -> None:
    await run(client, "import time\nticks = 0")
    with anyio.move_on_after(1):
        await run(client, "while True:\n    ticks += 1\n    time.sleep(0.01)")
    with anyio.fail_after(20):
        # The kernel runs one execution at a time: this one runs only once the loop has stopped.
        after = await run(client, "ticks > 0, history[-1].code.startswith('while True'), history[-1].failed")
    assert text_of(after) == "(True, True, True)"


@pytest.fixture
def broken_ipykernel(tmp_path: Path) -> str:
    """A PYTHONPATH under which every new kernel fails to start, saying why."""
    broken = tmp_path / "ipykernel"
    broken.mkdir()
    (broken / "__init__.py").write_text("raise ImportError('boom: this ipykernel is broken')\n")
    return str(tmp_path)


async def test_a_kernel_that_cannot_start_is_explained_and_tried_again(
    anyio_backend: str, broken_ipykernel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", broken_ipykernel)
    async with Client(build_server(settings(timeout=30)), raise_exceptions=True) as own:
        with anyio.fail_after(60):
            failed = await run(own, "1 + 1")
        assert failed.is_error
        assert "exited while starting (exit code 1)" in text_of(failed)
        assert "boom: this ipykernel is broken" in text_of(failed)
        monkeypatch.delenv("PYTHONPATH")
        with anyio.fail_after(60):
            assert text_of(await run(own, "1 + 1")) == "2"
        pid = int(text_of(await run(own, "import os\nos.getpid()")))
        await kill(pid)
        with anyio.fail_after(60):
            assert "died after the previous call" in text_of(await run(own, "'watched again'"))


async def test_a_call_cancelled_while_the_kernel_starts_leaves_the_start_to_the_next_call(anyio_backend: str) -> None:
    async with Client(build_server(settings(timeout=30)), raise_exceptions=True) as own:
        with anyio.move_on_after(0.05):  # far less than a kernel start: the call waits for the kernel
            await run(own, "'never seen'")
        with anyio.fail_after(60):
            assert text_of(await run(own, "6 * 7")) == "42"


async def test_a_kernel_that_cannot_be_replaced_is_explained_and_the_next_start_restores(
    anyio_backend: str, broken_ipykernel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Client(build_server(settings(timeout=30)), raise_exceptions=True) as own:
        with anyio.fail_after(60):
            await run(own, "kept = 'from the checkpoint'")
            monkeypatch.setenv("PYTHONPATH", broken_ipykernel)  # every new kernel fails from now on
            died = await run(own, "import os\nos._exit(3)")
        assert died.is_error
        assert (
            "The kernel died while running this code (exit code 3), and a new one could not be started "
            "(it exited while starting (exit code 1); it said: " in text_of(died)
        )
        assert text_of(died).endswith("boom: this ipykernel is broken); the next call tries again.")
        with anyio.fail_after(60):
            still = await run(own, "kept")
        assert still.is_error and "boom: this ipykernel is broken" in text_of(still)
        monkeypatch.delenv("PYTHONPATH")
        with anyio.fail_after(60):
            text = text_of(await run(own, "kept"))
        assert text.startswith("[memex] A new kernel has started; restored the variables as of execution [")
        assert text.endswith(": kept.\n'from the checkpoint'")
