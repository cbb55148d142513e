"""Downstream MCP servers (`--mcp-config`): their tools as Python functions in the kernel, `tools.*`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from agent_helpers import SETUP
from conftest import STATE_DIR, cell, process_alive, run, settings, text_of, wait_exit
from mcp import Client, StdioServerParameters

from memex_mcp.server import build_server
from memex_mcp.server.cli import parse

pytestmark = pytest.mark.anyio

SERVER = str(Path(__file__).with_name("downstream_server.py"))


def write_config(name: str, servers: dict[str, dict[str, object]]) -> Path:
    path = STATE_DIR / name
    path.write_text(json.dumps({"mcpServers": servers}))
    return path


@pytest.fixture(scope="module")
async def tools_client(anyio_backend: str) -> AsyncIterator[Client]:
    config = write_config(
        "downstream.json",
        {
            "test-server": {"command": sys.executable, "args": [SERVER]},
            "crashy": {"command": sys.executable, "args": [SERVER]},
            "victim": {"command": sys.executable, "args": [SERVER]},
            "missing": {"command": "memex-no-such-command", "args": ["--x"]},
        },
    )
    async with Client(build_server(settings(timeout=60, mcp_config=config)), raise_exceptions=True) as c:
        yield c


async def test_tool_results_are_python_objects(tools_client: Client) -> None:
    code = """\
s = tools.test_server
weather = s.get_weather(city="Oslo", days=2)
print(weather, type(weather).__name__)
print(s.primes(n=10))
print(s.json_text()["sales"])
print(repr(s.greet(name="Ada")))
png = s.image()
print(type(png).__name__, png[:4])
print(s.echo(text="hi", count=3))
"""
    assert (await cell(tools_client, code)).splitlines()[-6:] == [
        "{'city': 'Oslo', 'days': 2, 'forecast': ['sun', 'sun']} dict",
        "[2, 3, 5, 7]",
        "[1, 2, 3]",
        "'Hello, Ada!'",
        "bytes b'\\x89PNG'",
        "{'text': 'hi', 'count': 3}",
    ]


async def test_a_tool_has_its_description_as_docstring_and_a_signature_from_its_schema(tools_client: Client) -> None:
    code = """\
import inspect
f = tools.test_server.get_weather
print(f.__doc__.splitlines()[0])
print(inspect.signature(f))
"""
    assert (await cell(tools_client, code)).splitlines() == [
        "The weather in a city, as structured content.",
        "(*, city: str, days: int = 1)",
    ]


async def test_names_that_are_not_identifiers_are_mangled_and_the_mapping_shows(tools_client: Client) -> None:
    text = await cell(tools_client, "tools")
    assert "test_server (MCP name 'test-server'): get_weather ('get-weather'), primes," in text
    assert "crashy: " in text
    assert "missing: NOT AVAILABLE" in text
    assert "help(tools.<server>)" in text.splitlines()[0]


async def test_help_on_a_server_lists_its_tools_with_signatures(tools_client: Client) -> None:
    text = await cell(tools_client, "help(tools.test_server)")
    assert "get_weather(*, city: str, days: int = 1)" in text
    assert "The weather in a city, as structured content." in text


async def test_a_tool_error_raises_with_the_tools_error_text(tools_client: Client) -> None:
    code = """\
try:
    tools.test_server.fail(reason="disk full")
except tools.ToolError as exc:
    print(type(exc).__name__, exc.server, exc.tool, "|", exc)
"""
    expected = "DownstreamToolError test-server fail | Error executing tool fail: it failed: disk full"
    assert await cell(tools_client, code) == expected
    with anyio.fail_after(60):
        result = await run(tools_client, "tools.test_server.fail()")
    assert result.is_error
    assert text_of(result).endswith("ToolError: Error executing tool fail: it failed: no reason")


async def test_positional_arguments_are_refused_with_the_signature(tools_client: Client) -> None:
    with anyio.fail_after(60):
        result = await run(tools_client, "tools.test_server.greet('Ada')")
    assert (
        "TypeError: tools.test_server.greet() takes keyword arguments only: tools.test_server.greet(*, name: str)"
        in text_of(result)
    )


async def test_four_threads_call_tools_in_parallel_from_one_cell(tools_client: Client) -> None:
    code = """\
from concurrent.futures import ThreadPoolExecutor
with ThreadPoolExecutor(4) as pool:
    results = list(pool.map(lambda i: tools.test_server.echo(text=f"t{i}", delay=0.2, count=i), range(4)))
print(results)
"""
    assert await cell(tools_client, code) == str([{"text": f"t{i}", "count": i} for i in range(4)])


async def test_tool_functions_and_servers_survive_pickling_as_checkpoints_do(tools_client: Client) -> None:
    code = """\
import cloudpickle
greet, server = cloudpickle.loads(cloudpickle.dumps((tools.test_server.greet, tools.test_server)))
print(greet(name="again"), server is tools.test_server, cloudpickle.loads(cloudpickle.dumps(tools)) is tools)
"""
    assert await cell(tools_client, code) == "Hello, again! True True"


async def test_a_slow_tool_call_is_interrupted_at_the_timeout_and_the_kernel_keeps_its_state(
    tools_client: Client,
) -> None:
    await cell(tools_client, "kept = 42")
    with anyio.fail_after(60):
        result = await run(tools_client, "tools.test_server.echo(text='slow', delay=30)", timeout=1)
    assert result.is_error
    assert "timed out" in text_of(result) or "exceeded" in text_of(result)
    assert await cell(tools_client, "print(kept, tools.test_server.greet(name='after'))") == "42 Hello, after!"


async def test_a_sub_agent_calls_tools_from_its_thread(tools_client: Client) -> None:
    await cell(tools_client, SETUP)
    code = """\
h = spawn_agent("Greet", model=script("submit(tools.test_server.greet(name='agent'))"))
print(h.result(timeout=30))
"""
    assert await cell(tools_client, code) == "Hello, agent!"


async def test_a_server_that_cannot_start_is_reported_once_and_the_others_work(tools_client: Client) -> None:
    texts = [await cell(tools_client, "print(tools.test_server.greet(name='x'))") for _ in range(2)]
    code = """\
try:
    tools.missing.anything()
except tools.ToolError as exc:
    print(exc)
"""
    texts.append(await cell(tools_client, code))
    assert "MCP server 'missing': it failed to start: command not found" in texts[2]
    # Reported once, in a result's notes (by now the first call of the module may have carried it).
    assert sum(t.count("[memex] MCP server 'missing'") for t in texts) <= 1
    assert all("Hello, x!" in t for t in texts[:2])


async def test_a_server_that_dies_gives_its_stderr_then_a_clear_error(tools_client: Client) -> None:
    code = """\
for _ in range(2):
    try:
        tools.crashy.crash()
    except tools.ToolError as exc:
        print(exc)
print(tools.test_server.greet(name="still here"))
"""
    text = await cell(tools_client, code)
    died = "MCP server 'crashy': it stopped (its connection closed); its tools fail until memex-mcp restarts"
    assert text.count(died) == 2
    assert "crashing on purpose" in text
    assert text.endswith("Hello, still here!")
    assert "[memex] MCP server 'crashy'" in await cell(tools_client, "1")


async def test_a_server_that_dies_between_calls_is_reported_in_the_next_result(tools_client: Client) -> None:
    await cell(tools_client, "import os, signal\nos.kill(tools.victim.pid(), signal.SIGKILL)")
    with anyio.fail_after(30):
        while "[memex] MCP server 'victim': it stopped" not in (text := await cell(tools_client, "1")):
            pass  # its end reaches memex at once; the next result may just have been on its way
    assert "its tools fail until memex-mcp restarts" in text
    assert "victim: NOT AVAILABLE" in await cell(tools_client, "tools")


async def test_without_a_config_tools_says_how_to_configure_servers(client: Client) -> None:
    text = await cell(client, "tools")
    assert text.startswith("tools: no downstream MCP servers. Start memex-mcp with --mcp-config FILE")
    with anyio.fail_after(60):
        result = await run(client, "tools.github.search()")
    assert "AttributeError: There is no downstream MCP server 'github'. Start memex-mcp with --mcp-config" in text_of(
        result
    )


async def test_downstream_servers_stop_when_memex_gets_sigterm(anyio_backend: str) -> None:
    config = write_config("sigterm.json", {"one": {"command": sys.executable, "args": [SERVER]}})
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "memex_mcp", "--mcp-config", str(config)], env=dict(os.environ)
    )
    with anyio.fail_after(60):
        async with Client(params) as memex:
            text = await cell(memex, "import os\nprint(os.getppid(), tools.one.pid())")
            server_pid, downstream_pid = map(int, text.split())
            assert process_alive(downstream_pid)
            os.kill(server_pid, signal.SIGTERM)
            assert await anyio.to_thread.run_sync(wait_exit, downstream_pid, 20)


async def test_a_url_entry_reaches_a_streamable_http_server(anyio_backend: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    web = subprocess.Popen(
        [sys.executable, SERVER, "--http", str(port)], stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL
    )
    try:
        with anyio.fail_after(30):
            while True:  # until it listens
                try:
                    await (await anyio.connect_tcp("127.0.0.1", port)).aclose()
                    break
                except OSError:
                    await anyio.sleep(0.05)
        config = write_config("http.json", {"web": {"url": f"http://127.0.0.1:{port}/mcp", "headers": {"X-Test": "1"}}})
        async with Client(build_server(settings(mcp_config=config)), raise_exceptions=True) as memex:
            assert await cell(memex, "print(tools.web.greet(name='web'))") == "Hello, web!"
    finally:
        web.terminate()
        web.wait(timeout=10)


def test_a_bad_config_file_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config("bad.json", {"x": {"args": []}})
    with pytest.raises(SystemExit) as exit_:
        parse(["--mcp-config", str(path)])
    assert exit_.value.code == 2
    assert "server 'x' needs either a command or a url" in capsys.readouterr().err
