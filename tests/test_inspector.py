"""The MCP Inspector CLI (a client nobody here wrote) against `python -m memex_mcp`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from test_http import TOKENS, Server, serving

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".tools" / "node_modules" / ".bin"
INSTALL = "npm install --prefix .tools node@22 @modelcontextprotocol/inspector@2"


def inspector(*args: str) -> subprocess.CompletedProcess[str]:
    command = os.environ.get("MEMEX_INSPECTOR_BIN", str(BIN / "mcp-inspector"))
    assert Path(command).exists(), f"the MCP Inspector is not installed; run `{INSTALL}` in {ROOT}"
    # Node 22 from the same folder must come first: the inspector does not run on older Node.
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "MCP_INSPECTOR_SECRET_STORE": "memory"}
    return subprocess.run(
        [command, "--cli", sys.executable, "-m", "memex_mcp", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )


def test_the_inspector_lists_the_tools_and_runs_code() -> None:
    listed = inspector("--method", "tools/list")
    assert listed.returncode == 0, listed.stderr
    tools = {tool["name"]: tool for tool in json.loads(listed.stdout)["tools"]}
    assert set(tools) == {"execute_code", "list_scope", "spawn_agent", "submit"}
    assert tools["list_scope"]["annotations"]["readOnlyHint"] is True

    called = inspector("--method", "tools/call", "--tool-name", "execute_code", "--tool-arg", "code=print(6*7)")
    assert called.returncode == 0, called.stderr
    result = json.loads(called.stdout)
    assert result["isError"] is False
    assert result["content"] == [{"type": "text", "text": "42"}]


def test_a_cell_longer_than_the_inspectors_deadline_returns_in_time_and_runs_on() -> None:
    # The Inspector CLI gives up on a request after 60 s; a 90 s cell returns after --reply-within
    # (2 s here) as a success that says the execution runs on, instead of timing out.
    code = "import time\nprint('started', flush=True)\ntime.sleep(90)\nprint('ended')"
    called = inspector(
        "-e", "MEMEX_REPLY_WITHIN=2", "--method", "tools/call", "--tool-name", "execute_code",
        "--tool-arg", f"code={code}",
    )  # fmt: skip
    assert called.returncode == 0, called.stderr
    result = json.loads(called.stdout)
    assert result["isError"] is False
    text = result["content"][0]["text"]
    assert text.startswith("started\n[memex] Execution [1] is still running")
    assert "ended" not in text


EXECUTE = ("--method", "tools/call", "--tool-name", "execute_code", "--tool-arg")


def inspector_http(server: Server, *args: str, token: str = TOKENS["alice"]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "MCP_INSPECTOR_SECRET_STORE": "memory"}
    command = os.environ.get("MEMEX_INSPECTOR_BIN", str(BIN / "mcp-inspector"))
    return subprocess.run(
        [command, "--cli", server.url, "--transport", "http", "--header", f"Authorization: Bearer {token}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )


def test_the_inspector_over_http_needs_the_token_and_runs_code(tmp_path: Path) -> None:
    with serving(tmp_path / "state") as server:
        refused = inspector_http(server, "--method", "tools/list", "--stored-auth-only", token="not-a-token-at-all-x")
        assert refused.returncode != 0
        called = inspector_http(
            server, "--method", "tools/call", "--tool-name", "execute_code", "--tool-arg", "code=print(6*7)"
        )
        assert called.returncode == 0, called.stderr
        result = json.loads(called.stdout)
        assert result["isError"] is False
        assert result["content"][0]["text"].startswith("42\nscratchpad: sp-")


def test_a_cell_longer_than_the_inspectors_deadline_completes_across_two_calls(tmp_path: Path) -> None:
    # The Inspector gives up on a call after 60 s; this cell takes 62 s. The first call returns at
    # --reply-within (35 s) with the first line; the second, naming the scratchpad, returns the rest.
    code = "import time\nprint('started', flush=True)\ntime.sleep(62)\nprint('ended')"
    with serving(tmp_path / "state", "--reply-within", "35") as server:
        first = inspector_http(server, *EXECUTE, f"code={code}")
        assert first.returncode == 0, first.stderr
        text = json.loads(first.stdout)["content"][0]["text"]
        assert text.startswith("started\n[memex] Execution [1] is still running") and "ended" not in text
        handle = text.rsplit("scratchpad: ", 1)[1].strip()
        # Only waiting: no code of its own (the CLI's key=value form cannot say an empty string).
        arguments = json.dumps({"code": "", "scratchpad": handle})
        second = inspector_http(server, *EXECUTE[:-1], "--tool-args-json", arguments)
        assert second.returncode == 0, second.stderr
        text = json.loads(second.stdout)["content"][0]["text"]
        assert "ended" in text and "started" not in text and "still running" not in text
