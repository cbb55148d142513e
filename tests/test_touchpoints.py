"""The ipykernel and IPython internals the runtime depends on: present in the installed versions,
and a kernel that lacks one refuses to start, saying which and what is supported."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run, settings, text_of
from mcp import Client

from memex_mcp.runtime.touchpoints import HOOKS, SUPPORTED
from memex_mcp.server import build_server

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("name", [hook.name for hook in HOOKS])
async def test_the_installed_ipykernel_and_ipython_have_the_hook(client: Client, name: str) -> None:
    # The runtime checks every hook before it installs any (a kernel that answers had them all);
    # this names the one an upgrade took away.
    result = await run(
        client,
        "from memex_mcp.runtime import touchpoints\n"
        f"print(next(h for h in touchpoints.HOOKS if h.name == {name!r}).present(get_ipython()))",
    )
    assert text_of(result) == "True"


async def test_a_kernel_without_a_hook_does_not_start_and_says_which_hook_and_what_is_supported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real ipykernel with one of its methods gone, as a release that renamed it would be.
    (tmp_path / "sitecustomize.py").write_text(
        "import ipykernel.kernelbase\ndel ipykernel.kernelbase.Kernel._publish_execute_input\n"
    )
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}:{Path.cwd()}")
    async with Client(build_server(settings(timeout=30))) as c:
        result = await run(c, "print(1)")
    assert result.is_error
    text = text_of(result)
    assert "exited while starting" in text
    assert "missing Kernel._publish_execute_input" in text
    assert f"It supports {SUPPORTED}" in text


async def test_threads_of_users_code_write_as_their_cell_and_memex_threads_as_whatever_cell_runs(
    client: Client,
) -> None:
    result = await run(
        client,
        "import threading\n"
        "from memex_mcp.runtime.cells.streams import ROUTE, own_thread\n"
        "seen = {}\n"
        "own_thread(lambda: seen.__setitem__('memex', ROUTE.get()), 'memex-test').join()\n"
        "user = threading.Thread(target=lambda: seen.__setitem__('user', ROUTE.get()))\n"
        "user.start(); user.join()\n"
        "print(seen['memex'], type(seen['user']).__name__)",
    )
    # The user's thread carries its cell's Origin; memex's own starts with no route, so what it
    # writes goes with whichever cell runs then, never with the cell that happened to start it.
    assert text_of(result) == "None Origin"


async def test_the_kernel_neither_sleeps_after_a_cell_nor_echoes_its_code(client: Client) -> None:
    result = await run(
        client,
        "kernel = get_ipython().kernel\nprint(kernel._execute_sleep, kernel._publish_execute_input('code', {}, 1))",
    )
    assert text_of(result) == "0.0 None"


async def test_output_written_without_a_newline_and_flushed_twice_arrives_once_in_order(client: Client) -> None:
    result = await run(
        client,
        "import sys\n"
        "sys.stdout.write('a'); sys.stdout.flush(); sys.stdout.flush()\n"
        "sys.stderr.write('b'); sys.stderr.flush()\n"
        "_ = sys.stdout.write('c\\n')",
    )
    assert text_of(result) == "abc"
