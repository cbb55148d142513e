"""The command line: documented options, and one-line errors with exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

OPTIONS = ["--transport", "--host", "--port", "--data-dir", "--state-dir", "--session", "--output-limit",
           "--timeout", "--agent-model", "--answer-schema", "--mcp-config", "--max-code-chars", "--memory-limit",
           "--checkpoint-max-bytes"]


def memex(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "memex_mcp", *args], capture_output=True, text=True,
                          timeout=60, env=env, stdin=subprocess.DEVNULL)


def test_help_documents_every_option() -> None:
    result = memex("--help")
    assert result.returncode == 0
    for option in OPTIONS:
        assert option in result.stdout
    assert "MEMEX_" in result.stdout
    # Only what is not built yet (--transport http) says so.
    text = " ".join(result.stdout.split())  # as argparse wrapped it
    assert text.count("later version") + text.count("not available") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--timeout", "soon"], "argument --timeout: invalid float value: 'soon'"),
        (["--data-dir", "/no/such/dir"], "--data-dir /no/such/dir: no such directory"),
        (["--output-limit", "10"], "--output-limit: Input should be greater than or equal to 200"),
        (["--transport", "http"], "--transport http is not available in this version yet"),
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
