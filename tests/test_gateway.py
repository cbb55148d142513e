"""Kernels behind a Jupyter Kernel Gateway (`--kernel-gateway`): everything a local kernel does, and
the gateway's failures as errors that say what to fix.

A real Kernel Gateway runs on this host for the module, with memex's kernelspec; the session
directory is shared, as it is wherever the gateway's hosts mount the server's state."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from conftest import STATE_DIR, cell, kill, run, settings, text_of
from mcp import Client, types
from mcp.client.session import ClientRequestContext

from memex_mcp.server import build_server
from memex_mcp.server.cli import parse
from memex_mcp.server.kernel import _KERNEL_ARGV

pytestmark = pytest.mark.anyio

TOKEN_ENV = "MEMEX_GATEWAY_TOKEN"
#: Kernel code whose value is the id the gateway knows the kernel by (its connection file's name).
KERNEL_ID = "__import__('ipykernel.connect').connect.get_connection_file().rsplit('kernel-', 1)[1][:-5]"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Gateway:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token

    async def delete(self, kernel_id: str) -> int:
        async with httpx2.AsyncClient(headers={"Authorization": f"token {self.token}"}) as http:
            return (await http.delete(f"{self.url}/api/kernels/{kernel_id}")).status_code


#: The token of every gateway of this module, in the environment while they run.
TOKEN = secrets.token_hex(16)
RELOCATE = (
    "import json, os, sys, tempfile\n"
    "config = json.loads(os.environ['KERNEL_MEMEX_RUNTIME_CONFIG'])\n"
    "config['session_dir'] = tempfile.mkdtemp(prefix='memex-elsewhere-')\n"
    "os.environ['KERNEL_MEMEX_RUNTIME_CONFIG'] = json.dumps(config)\n"
    "os.execv(sys.argv[1], sys.argv[1:])\n"
)


@contextmanager
def running_gateway(name: str, *options: str) -> Iterator[Gateway]:
    """A Kernel Gateway on a free port with memex's kernelspec, stopped at the end."""
    home = STATE_DIR / name
    spec = home / "kernels" / "memex"
    spec.mkdir(parents=True)
    # A gateway hands its kernels only PATH and the kernelspec's env: this run's code and its guard
    # against real model requests go there.
    env = {"PYTHONPATH": os.environ.get("PYTHONPATH", ""), "MEMEX_ALLOW_MODEL_REQUESTS": "0"}
    kernelspec = {"argv": _KERNEL_ARGV, "display_name": "memex", "language": "python", "env": env}
    (spec / "kernel.json").write_text(json.dumps(kernelspec))
    # The same kernel with its session directory moved elsewhere, as on a host without the shared volume.
    elsewhere = home / "kernels" / "memex-elsewhere"
    elsewhere.mkdir()
    (elsewhere / "kernel.json").write_text(
        json.dumps({**kernelspec, "argv": [sys.executable, "-c", RELOCATE, *_KERNEL_ARGV]})
    )
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "kernel_gateway",
        "--KernelGatewayApp.ip=127.0.0.1",
        f"--KernelGatewayApp.port={port}",
        f"--KernelGatewayApp.auth_token={TOKEN}",
        "--KernelGatewayApp.port_retries=0",
        # As a gateway for memex should be set up: output is budgeted by memex, not dropped here.
        "--ZMQChannelsWebsocketConnection.iopub_data_rate_limit=0",
        "--ZMQChannelsWebsocketConnection.iopub_msg_rate_limit=0",
        *options,
    ]
    with gateway_process(command, home, {**os.environ, "JUPYTER_PATH": str(home)}):
        yield Gateway(f"http://127.0.0.1:{port}", TOKEN)


@contextmanager
def gateway_process(command: list[str], cwd: Path, env: dict[str, str]) -> Iterator[None]:
    """Run a Jupyter gateway until it says it is available (at most a minute); stop it at the end."""
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    up = threading.Event()
    log: list[str] = []

    def drain() -> None:  # read to the end, or the gateway blocks on a full pipe
        assert process.stderr is not None
        for line in process.stderr:
            log.append(line.decode(errors="replace"))
            if "is available at" in log[-1]:
                up.set()

    threading.Thread(target=drain, daemon=True).start()
    try:
        assert up.wait(60), "".join(log)
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    """The module's gateway, its token in the server's environment."""
    with pytest.MonkeyPatch.context() as patch, running_gateway("gateway") as running:
        patch.setenv(TOKEN_ENV, TOKEN)
        yield running


@pytest.fixture(scope="module")
def small_gateway(gateway: Gateway) -> Iterator[Gateway]:
    """A gateway with room for one kernel."""
    with running_gateway("small-gateway", "--KernelGatewayApp.max_kernels=1") as running:
        yield running


@pytest.fixture(scope="module")
async def client(anyio_backend: str, gateway: Gateway) -> AsyncIterator[Client]:
    # Replies may wait long enough for a replaced kernel to start on the gateway and be restored.
    server = build_server(
        settings(kernel_gateway=gateway.url, timeout=30, interrupt_grace=2, output_limit=2000, reply_within=20)
    )
    async with Client(server, raise_exceptions=True) as c:
        yield c


@pytest.fixture(scope="module")
async def quick_client(anyio_backend: str, gateway: Gateway) -> AsyncIterator[Client]:
    """Replies within a second: a cell runs on past its reply."""
    async with Client(build_server(settings(kernel_gateway=gateway.url, reply_within=1)), raise_exceptions=True) as c:
        yield c


async def settled(client: Client, code: str) -> str:
    """The replies of `code` and of the calls that wait for it, up to the one that ends it (a kernel
    replaced first may take longer than a reply may wait)."""
    replies = [text_of(await run(client, code))]
    for _ in range(30):
        if "is still running" not in replies[-1]:
            return "\n".join(replies)
        replies.append(text_of(await run(client, "")))
    raise AssertionError(replies)


async def test_the_kernel_runs_on_the_gateway_and_keeps_its_variables_across_calls(client: Client) -> None:
    # The Kernel Gateway marks the kernels it starts.
    assert await cell(client, "import os\nos.environ['KERNEL_GATEWAY']") == "'1'"
    await cell(client, "x = 41")
    assert await cell(client, "x + 1") == "42"


async def test_output_comes_in_order_with_stderr_between_stdout(client: Client) -> None:
    code = "import sys\nprint('one')\nprint('two', file=sys.stderr)\nprint('three')\n{'k': 1}"
    assert await cell(client, code) == "one\ntwo\nthree\n{'k': 1}"


async def test_a_big_print_is_cut_to_the_budget_and_kept_whole_in_outputs(client: Client) -> None:
    text = await cell(client, "for i in range(20_000):\n    print(f'line {i:05d} ' + 'x' * 89)")
    assert len(text) <= 2000
    lines = text.splitlines()
    assert lines[0] == "line 00000 " + "x" * 89
    assert lines[-1] == "line 19999 " + "x" * 89
    key = text.split("_outputs[")[1].split("]")[0]
    assert await cell(client, f"len(_outputs[{key}].splitlines())") == "20000"


async def test_a_timeout_interrupts_the_kernel_through_the_gateway_and_keeps_its_state(client: Client) -> None:
    await cell(client, "before_loop = 'kept'")
    with anyio.fail_after(30):
        result = await run(client, "while True:\n    pass", timeout=1)
    assert result.is_error
    assert text_of(result) == "TimeoutError: the execution exceeded 1 s and was interrupted. The kernel kept its state."
    assert await cell(client, "before_loop") == "'kept'"


async def test_list_scope_answers_while_a_cell_runs_on_the_gateway(quick_client: Client) -> None:
    client = quick_client
    await cell(client, "before_the_long_cell = 41")
    first = await run(client, "import time\nfor i in range(4):\n    print(i, flush=True)\n    time.sleep(0.5)")
    assert "is still running" in text_of(first)
    listing = await client.call_tool("list_scope", {"pattern": "before_the_long_cell"})
    assert not listing.is_error
    assert "before_the_long_cell" in text_of(listing) and "is still running" in text_of(listing)
    replies = [text_of(first)]
    for _ in range(30):
        if "is still running" not in replies[-1]:
            break
        replies.append(text_of(await run(client, "")))
    printed = [line for r in replies for line in r.splitlines() if line.isdigit()]
    assert printed == ["0", "1", "2", "3"]


async def test_submit_reaches_the_kernel_on_the_gateway(client: Client) -> None:
    result = await client.call_tool("submit", {"value": {"answer": 42}})
    assert not result.is_error
    assert result.structured_content == {"answer": 42}
    assert await cell(client, "submissions[-1]") == "{'answer': 42}"


async def test_a_kernel_shut_down_on_the_gateway_is_replaced_with_its_variables(
    client: Client, gateway: Gateway
) -> None:
    await cell(client, "survivor = 1")
    kernel_id = (await cell(client, KERNEL_ID)).strip("'")
    assert await gateway.delete(kernel_id) == 204
    with anyio.fail_after(60):
        text = await settled(client, "survivor + 1")
    assert text.startswith("[memex] The kernel died after the previous call (it was shut down on the gateway)")
    assert "restored" in text and text.endswith("\n2")
    assert (await cell(client, KERNEL_ID)).strip("'") != kernel_id


async def test_a_kernel_whose_process_dies_on_the_gateway_is_replaced_with_its_variables(client: Client) -> None:
    await cell(client, "survivor_too = 2")
    kernel_id = (await cell(client, KERNEL_ID)).strip("'")
    await kill(int(await cell(client, "__import__('os').getpid()")))
    with anyio.fail_after(60):
        text = await settled(client, "survivor_too + 1")
    # The gateway starts the process again, empty: for memex the kernel died either way.
    assert text.startswith(
        "[memex] The kernel died after the previous call (its process ended and the gateway restarted it)"
    )
    assert text.endswith("\n3")
    assert (await cell(client, KERNEL_ID)).strip("'") != kernel_id
    # The session's database is the new kernel's: the process the gateway started again let go of it.
    assert await cell(client, "db.execute('select 42').fetchall()") == "[(42,)]"


async def test_a_kernel_on_the_gateway_calls_a_downstream_tool_through_the_server(gateway: Gateway) -> None:
    config = STATE_DIR / "gateway-downstream.json"
    server = str(Path(__file__).with_name("downstream_server.py"))
    config.write_text(json.dumps({"mcpServers": {"test-server": {"command": sys.executable, "args": [server]}}}))
    async with Client(
        build_server(settings(kernel_gateway=gateway.url, mcp_config=config)), raise_exceptions=True
    ) as c:
        assert await cell(c, "tools.test_server.primes(n=10)") == "[2, 3, 5, 7]"


async def first_call(**options: object) -> str:
    """The text of a first call of a new server with `options`: an error, since its kernel cannot start."""
    async with Client(build_server(settings(**options)), raise_exceptions=True) as c:
        with anyio.fail_after(60):
            result = await run(c, "1")
    assert result.is_error
    return text_of(result)


async def test_a_gateway_that_is_not_there_is_named_and_others_keep_working(client: Client) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    text = await first_call(kernel_gateway=url)
    assert f"No kernel could be started: the kernel gateway at {url} cannot be reached (ConnectError" in text
    assert "check that it runs and that --kernel-gateway names it" in text
    assert await cell(client, "'still here'") == "'still here'"


async def test_a_wrong_token_says_to_check_the_token_variable(
    client: Client, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "not-the-token")
    text = await first_call(kernel_gateway=gateway.url)
    assert f"the kernel gateway at {gateway.url} refused the token (HTTP 401); check MEMEX_GATEWAY_TOKEN" in text
    monkeypatch.undo()
    assert await cell(client, "'still here'") == "'still here'"


async def test_an_unknown_kernel_name_lists_the_kernelspecs_the_gateway_has(client: Client, gateway: Gateway) -> None:
    text = await first_call(kernel_gateway=gateway.url, kernel_name="no-such-kernel")
    assert f"the kernel gateway at {gateway.url} has no kernelspec named 'no-such-kernel'; it has: " in text
    assert "memex" in text.split("it has: ")[1].split(".")[0]
    assert "--kernel-name" in text
    assert await cell(client, "'still here'") == "'still here'"


async def test_a_full_gateway_says_it_has_no_room_and_its_kernel_keeps_working(small_gateway: Gateway) -> None:
    url = small_gateway.url
    async with Client(build_server(settings(kernel_gateway=url)), raise_exceptions=True) as first:
        assert await cell(first, "'first'") == "'first'"
        text = await first_call(kernel_gateway=url)
        assert (
            f"the kernel gateway at {url} has no room for another kernel (HTTP 403: Resource Limit); stop idle "
            "scratchpads or raise the gateway's kernel limit" in text
        )
        assert await cell(first, "'still here'") == "'still here'"


def test_the_gateway_is_an_option_and_an_environment_variable_and_its_token_never_an_option(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, given = parse(["--kernel-gateway", "http://gw:8888", "--kernel-name", "memex-py"])
    assert (given.kernel_gateway, given.kernel_name) == ("http://gw:8888", "memex-py")
    monkeypatch.setenv("MEMEX_KERNEL_GATEWAY", "https://gw.example")
    _, from_env = parse([])
    assert (from_env.kernel_gateway, from_env.kernel_name) == ("https://gw.example", "memex")
    with pytest.raises(SystemExit):
        parse(["--kernel-gateway-token", "t"])
    with pytest.raises(SystemExit):
        parse(["--kernel-gateway", "gw:8888"])
    with pytest.raises(SystemExit):
        parse(["--kernel-gateway", "http://gw:8888", "--sandbox", "landlock"])


@pytest.mark.parametrize(("kernel_name", "shared"), [("memex", True), ("memex-elsewhere", False)])
async def test_a_kernel_whose_host_does_not_share_the_state_directory_says_restores_are_off(
    gateway: Gateway, kernel_name: str, shared: bool
) -> None:
    async with Client(build_server(settings(kernel_gateway=gateway.url, kernel_name=kernel_name))) as c:
        text = await cell(c, "print('hi')")
        again = await cell(c, "print('again')")
    assert text.endswith("hi") and again == "again"
    said = "runs on a host that does not share the server's state directory" in text
    assert said is not shared
    if not shared:
        assert "if the kernel dies its variables cannot be restored" in text


async def test_a_sub_agent_on_the_gateway_asks_the_clients_model_through_the_channel(gateway: Gateway) -> None:
    asked: list[str] = []
    reply = types.TextContent(type="text", text="```python\nsubmit(sum(numbers))\n```")

    async def model(_: ClientRequestContext, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        asked.append(str(params.messages[-1].content))
        return types.CreateMessageResult(role="assistant", content=reply, model="client-model")

    server = build_server(settings(kernel_gateway=gateway.url, agent_model="sampling"))
    async with Client(server, raise_exceptions=True, mode="legacy", sampling_callback=model) as c:
        spawn = "h = spawn_agent('Add up the numbers', inputs=['numbers'], returns=int)"
        assert await cell(c, f"numbers = [20, 22]\n{spawn}\nh.result(timeout=30)") == "42"
    assert "Add up the numbers" in asked[0]
