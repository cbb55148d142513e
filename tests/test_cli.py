"""The command line: documented options, and one-line errors with exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

OPTIONS = [
    "--transport",
    "--host",
    "--port",
    "--data-dir",
    "--state-dir",
    "--session",
    "--output-limit",
    "--timeout",
    "--agent-model",
    "--answer-schema",
    "--mcp-config",
    "--max-code-chars",
    "--tokens",
    "--allowed-host",
    "--allowed-origin",
    "--max-sessions",
    "--idle-timeout",
    "--max-body",
    "--metrics-public",
    "--log-level",
    "--log-json",
    "--memory-limit",
    "--checkpoint-max-bytes",
]


def memex(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "memex_mcp", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def test_help_documents_every_option() -> None:
    result = memex("--help")
    assert result.returncode == 0
    for option in OPTIONS:
        assert option in result.stdout
    assert "MEMEX_" in result.stdout
    text = " ".join(result.stdout.split())  # as argparse wrapped it
    assert text.count("later version") + text.count("not available") == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--timeout", "soon"], "argument --timeout: invalid float value: 'soon'"),
        (["--data-dir", "/no/such/dir"], "--data-dir /no/such/dir: no such directory"),
        (["--output-limit", "10"], "--output-limit: Input should be greater than or equal to 200"),
        (["--transport", "http", "--host", "0.0.0.0"], "--host 0.0.0.0 is reachable from other machines"),
        (["--transport", "http", "--session", "x"], "--session is for stdio"),
        (["--transport", "http", "--channel-address", "127.0.0.1"], "--channel-address reaches kernels over TCP"),
        (["--transport", "http", "--tokens", "/no/such.json"], "--tokens /no/such.json: No such file"),
        (["--memory-limit", "lots"], "argument --memory-limit: 'lots' is not a size (e.g. 4G, 512M, 1000000)"),
        (["--memory-limit", "inf"], "argument --memory-limit: 'inf' is not a size"),
        (["--memory-limit", "100M"], "--memory-limit: must be at least 256M"),
        (["--checkpoint-max-bytes", "1e400"], "argument --checkpoint-max-bytes: '1e400' is not a size"),
        (["--checkpoint-max-bytes", "-1"], "--checkpoint-max-bytes: Input should be greater than or equal to 0"),
        (["--session", "../elsewhere"], "--session: a session name is 1 to 100 letters, digits"),
    ],
)
def test_bad_options_are_a_one_line_error_with_exit_code_2(args: list[str], message: str) -> None:
    result = memex(*args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert message in result.stderr and "Traceback" not in result.stderr


def test_environment_variables_are_options_too(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "MEMEX_TIMEOUT": "never"}
    result = memex(env=env)
    assert result.returncode == 2
    assert "invalid float value: 'never'" in result.stderr


def test_a_bad_answer_schema_file_is_refused(tmp_path: Path) -> None:
    not_json = tmp_path / "schema.json"
    not_json.write_text("{nope")
    assert "not JSON" in memex("--answer-schema", str(not_json)).stderr
    invalid = tmp_path / "invalid.json"
    invalid.write_text('{"type": 12}')
    result = memex("--answer-schema", str(invalid))
    assert result.returncode == 2 and "not a valid JSON Schema" in result.stderr
    assert "No such file" in memex("--answer-schema", str(tmp_path / "missing.json")).stderr


def test_every_option_can_be_set_by_its_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from memex_mcp.server.cli import parse

    (tmp_path / "schema.json").write_text('{"type": "object"}')
    (tmp_path / "servers.json").write_text('{"mcpServers": {}}')
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    environment = {
        "MEMEX_HOST": "127.0.0.2",
        "MEMEX_PORT": "9000",
        "MEMEX_DATA_DIR": f"{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}",
        "MEMEX_STATE_DIR": str(tmp_path),
        "MEMEX_SESSION": "work",
        "MEMEX_OUTPUT_LIMIT": "500",
        "MEMEX_TIMEOUT": "7.5",
        "MEMEX_MAX_CODE_CHARS": "1234",
        "MEMEX_MEMORY_LIMIT": "1G",
        "MEMEX_CHECKPOINT_MAX_BYTES": "1M",
        "MEMEX_AGENT_MODEL": "openai:local",
        "MEMEX_ANSWER_SCHEMA": str(tmp_path / "schema.json"),
        "MEMEX_MCP_CONFIG": str(tmp_path / "servers.json"),
        "MEMEX_TRANSPORT": "stdio",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    _, s = parse([])
    assert (s.host, s.port, s.data_dirs, s.state_dir, s.session) == (
        "127.0.0.2",
        9000,
        (tmp_path / "a", tmp_path / "b"),
        tmp_path,
        "work",
    )
    assert (s.output_limit, s.timeout, s.max_code_chars, s.memory_limit, s.checkpoint_max_bytes) == (
        500,
        7.5,
        1234,
        2**30,
        2**20,
    )
    assert (s.agent_model, s.answer_schema, s.mcp_config) == (
        "openai:local",
        {"type": "object"},
        tmp_path / "servers.json",
    )
    # The command line wins over the environment.
    assert parse(["--timeout", "3"])[1].timeout == 3
    monkeypatch.setenv("MEMEX_TRANSPORT", "http")
    with pytest.raises(SystemExit) as refused:
        parse([])  # MEMEX_SESSION is set: stdio only
    assert refused.value.code == 2


def test_without_options_or_environment_the_documented_defaults_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    from memex_mcp.server.cli import parse
    from memex_mcp.server.settings import default_state_dir

    for name in [n for n in os.environ if n.startswith("MEMEX_")]:
        monkeypatch.delenv(name)
    command, s = parse([])
    assert command == "serve" and s.transport == "stdio"
    assert (s.output_limit, s.timeout, s.agent_model, s.state_dir) == (8000, 120.0, "auto", default_state_dir())
    assert (s.data_dirs, s.session, s.answer_schema, s.mcp_config) == ((), None, None, None)
    assert (s.host, s.port) == ("127.0.0.1", 8765)


def test_the_console_script_is_the_same_program_as_python_m() -> None:
    script = Path(sys.executable).with_name("memex-mcp")
    assert script.exists(), "pip install -e . installs the memex-mcp console script"
    by_script = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    assert by_script.returncode == 0
    assert by_script.stdout == memex("--help").stdout
    wrong = subprocess.run(
        [str(script), "--bogus"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    assert (wrong.returncode, wrong.stderr) == (2, memex("--bogus").stderr)
