"""`memex-mcp kernelspec install`: a kernelspec that plain Jupyter starts as a memex kernel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from memex_mcp.protocol import CONFIG_ENV, RuntimeConfig

NAME = "memex-spec-test"


def memex(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "memex_mcp", *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )


@pytest.fixture(scope="module")
def prefix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    prefix = tmp_path_factory.mktemp("prefix")
    result = memex("kernelspec", "install", "--name", NAME, "--prefix", str(prefix))
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout == f"memex-mcp: installed the kernelspec '{NAME}' in {prefix / 'share/jupyter/kernels' / NAME}\n"
    )
    return prefix


@pytest.fixture(scope="module")
def kernel(
    prefix: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[KernelManager, BlockingKernelClient]]:
    """The installed kernelspec started by plain jupyter_client, as a gateway on a kernel host does."""
    specs = KernelSpecManager(kernel_dirs=[str(prefix / "share/jupyter/kernels")])
    manager = KernelManager(kernel_name=NAME, kernel_spec_manager=specs)
    session = tmp_path_factory.mktemp("session")
    config = RuntimeConfig(session_dir=str(session), cache_dir=str(session))
    manager.start_kernel(env={**os.environ, CONFIG_ENV: config.model_dump_json()})
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        yield manager, client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def execute(client: BlockingKernelClient, code: str) -> tuple[str, dict[str, Any]]:
    """The cell's stdout and its execute_reply content."""
    out: list[str] = []

    def collect(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
            out.append(msg["content"]["text"])

    reply = client.execute_interactive(code, output_hook=collect, timeout=60)
    return "".join(out), reply["content"]


def test_the_kernelspec_starts_this_python_with_the_memex_runtime_and_interrupts_by_message(prefix: Path) -> None:
    spec = json.loads((prefix / "share/jupyter/kernels" / NAME / "kernel.json").read_text())
    assert spec["argv"][:3] == [sys.executable, "-m", "memex_mcp.runtime.launch"]
    assert "--ext=memex_mcp.runtime.extension" in spec["argv"]
    assert (spec["language"], spec["interrupt_mode"], spec["env"]) == ("python", "message", {"PYTHONUNBUFFERED": "1"})


def test_jupyter_starts_the_installed_kernelspec_as_a_memex_kernel(
    kernel: tuple[KernelManager, BlockingKernelClient],
) -> None:
    _, client = kernel
    out, reply = execute(client, "print(type(sql).__name__, type(db).__name__)\nmemex_help()")
    assert reply["status"] == "ok", reply
    first, *guide = out.splitlines()
    assert first == "function DuckDBPyConnection"
    assert guide[0].startswith("memex scratchpad: your variables persist between calls")


def test_jupyter_interrupts_a_cell_of_the_installed_kernel(kernel: tuple[KernelManager, BlockingKernelClient]) -> None:
    manager, client = kernel
    msg_id = client.execute("import time\nprint('looping', flush=True)\nfor _ in range(600):\n    time.sleep(0.1)")
    # Sent once the loop runs, so the interrupt cannot arrive before the cell's own code does.
    while not (
        (msg := client.get_iopub_msg(timeout=60))["parent_header"].get("msg_id") == msg_id
        and msg["msg_type"] == "stream"
        and msg["content"]["text"] == "looping\n"
    ):
        pass
    manager.interrupt_kernel()
    # Replies to earlier requests (a kernel_info asked twice while the kernel started) come first.
    while (reply := client.get_shell_msg(timeout=30))["parent_header"].get("msg_id") != msg_id:
        pass
    assert reply["content"]["status"] == "error"
    assert "KeyboardInterrupt" in reply["content"]["ename"]


def test_a_prefix_that_is_a_file_is_a_one_line_error_with_exit_code_2(tmp_path: Path) -> None:
    file = tmp_path / "prefix"
    file.write_text("")
    result = memex("kernelspec", "install", "--prefix", str(file))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(
        f"memex-mcp kernelspec install: error: --prefix {file}: it is a file, not a directory"
    )
    assert file.read_text() == ""
