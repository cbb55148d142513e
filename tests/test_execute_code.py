"""execute_code through a real MCP client, against a real kernel."""

from __future__ import annotations

import anyio
import pytest
from conftest import run, text_of
from mcp import Client

pytestmark = pytest.mark.anyio


async def test_variables_imports_and_functions_persist_across_calls(client: Client) -> None:
    await run(client, "import math\nradius = 2\ndef area(r):\n    return math.pi * r * r")
    result = await run(client, "round(area(radius), 3)")
    assert not result.is_error
    assert text_of(result) == "12.566"


async def test_output_comes_in_order_then_the_last_expression_value(client: Client) -> None:
    code = "import sys\nprint('one')\nprint('two', file=sys.stderr)\nprint('three')\n{'k': 1}"
    result = await run(client, code)
    assert text_of(result) == "one\ntwo\nthree\n{'k': 1}"


async def test_a_statement_without_value_returns_only_its_prints(client: Client) -> None:
    assert text_of(await run(client, "x = 5")) == "(no output)"
    assert text_of(await run(client, "x = 6\nx")) == "6"


async def test_an_exception_returns_a_short_traceback_of_the_users_frames(client: Client) -> None:
    await run(client, "def divide(a, b):\n    return a / b")
    result = await run(client, "print('before')\ndivide(1, 0)")
    text = text_of(result)
    assert result.is_error
    assert text.startswith("before\nTraceback (most recent call last):")
    assert "return a / b" in text and "divide(1, 0)" in text
    assert text.endswith("ZeroDivisionError: division by zero")
    assert "site-packages" not in text and "IPython" not in text and "\x1b[" not in text


async def test_library_frames_are_left_out_of_tracebacks(client: Client) -> None:
    result = await run(client, "import json\njson.loads('{bad')")
    text = text_of(result)
    assert result.is_error
    assert "json.loads('{bad')" in text
    assert "decoder.py" not in text
    assert text.splitlines()[-1].startswith("json.decoder.JSONDecodeError: Expecting property name")


async def test_a_syntax_error_points_at_the_line_and_the_session_goes_on(client: Client) -> None:
    await run(client, "kept = 'yes'")
    result = await run(client, "ok = 1\ndef broken(:\n    pass")
    assert result.is_error
    lines = text_of(result).splitlines()
    assert "line 2" in lines[0]
    assert lines[1].strip() == "def broken(:"
    assert lines[-1] == "SyntaxError: invalid syntax"
    assert text_of(await run(client, "kept")) == "'yes'"


async def test_a_huge_print_is_cut_to_the_budget_and_kept_whole_in_outputs(client: Client) -> None:
    code = "for i in range(100_000):\n    print(f'line {i:05d} ' + 'x' * 89)"
    result = await run(client, code)
    text = text_of(result)
    assert not result.is_error
    assert len(text) <= 2000
    lines = text.splitlines()
    assert lines[0] == "line 00000 " + "x" * 89
    assert lines[-1] == "line 99999 " + "x" * 89
    marker = next(line for line in lines if line.startswith("[…"))
    key = marker.split("_outputs[")[1].split("]")[0]
    kept = [line for line in lines if line.startswith("line ")]
    assert marker == f"[… {(100_000 - len(kept)) * 101:,} characters cut here; the full output is in _outputs[{key}] …]"
    full = text_of(await run(client, f"len(_outputs[{key}]), _outputs[{key}].splitlines()[50_000][:10]"))
    assert full == "(10100000, 'line 50000')"


async def test_ten_megabytes_printed_at_once_stay_within_the_budget(client: Client) -> None:
    result = await run(client, "print('y' * 10_000_000)")
    text = text_of(result)
    assert len(text) <= 2000
    assert "characters cut here; the full output is in _outputs[" in text
    assert text_of(await run(client, "len(history[-1].output)")) == "10000001"


async def test_a_huge_code_string_is_refused_with_a_clear_error(client: Client) -> None:
    result = await run(client, "x = '" + "a" * 10_000_000 + "'")
    assert result.is_error
    assert "10,000,006 characters; the limit is 1,000,000" in text_of(result)
    assert text_of(await run(client, "1 + 1")) == "2"


async def test_undecodable_bytes_become_replacement_characters(client: Client) -> None:
    code = (
        "import os, sys\n"
        "os.write(1, b'raw \\xff\\xfe bytes\\n')\n"
        "print('lone ' + b'\\xff'.decode('utf-8', 'surrogateescape'))\n"
        "sys.stdout.flush()"
    )
    result = await run(client, code)
    text = text_of(result)
    assert not result.is_error
    assert "lone \ufffd" in text
    assert "raw \ufffd\ufffd bytes" in text
    assert text_of(await run(client, "'still' + ' here'")) == "'still here'"


async def test_bad_tool_arguments_are_a_clear_error_and_the_session_keeps_working(client: Client) -> None:
    wrong_type = await client.call_tool("execute_code", {"code": 42})
    assert wrong_type.is_error
    assert "code" in text_of(wrong_type) and "valid string" in text_of(wrong_type)
    missing = await client.call_tool("execute_code", {})
    assert missing.is_error and "code" in text_of(missing)
    negative = await run(client, "1", timeout=-1)
    assert negative.is_error and "timeout must be a positive, finite number" in text_of(negative)
    assert text_of(await run(client, "'fine'")) == "'fine'"


async def test_concurrent_calls_run_one_at_a_time_and_each_gets_its_own_output(client: Client) -> None:
    await run(client, "order = []")
    results: dict[int, str] = {}

    async def call(i: int) -> None:
        code = (
            f"import time\nfor k in range(3):\n    print('call {i} line', k)\n    time.sleep(0.01)\norder.append({i})"
        )
        results[i] = text_of(await run(client, code))

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            for i in range(8):
                tg.start_soon(call, i)
    for i in range(8):
        assert results[i] == "\n".join(f"call {i} line {k}" for k in range(3))
    order = text_of(await run(client, "sorted(order) == list(range(8)), len(order)"))
    assert order == "(True, 8)"


async def test_history_keeps_every_execution_with_code_and_full_output(client: Client) -> None:
    await run(client, "print('marker-' * 3000)")
    text = text_of(await run(client, "h = history.find('marker-')[-1]\nlen(h.output), h.code[:12]"))
    assert text == '(21001, "print(\'marke")'
    assert "executions" in text_of(await run(client, "history"))


async def test_help_prints_the_prelude_catalog(client: Client) -> None:
    text = text_of(await run(client, "help()"))
    assert len(text.splitlines()) < 60
    for name in ("history", "_outputs", "submit(value)", "spawn_agent(", "memex_help()"):
        assert name in text
    assert text_of(await run(client, "memex_help()")) == text
    assert "len(obj, /)" in text_of(await run(client, "help(len)")) or "Return the number" in text_of(
        await run(client, "help(len)")
    )


async def test_a_long_execution_reports_progress_as_output_arrives(client: Client) -> None:
    updates: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append((progress, message))

    # The first output is a notification at once; the throttle after it is tested on a fake clock
    # (test_progress_clock.py).
    code = "for i in range(5):\n    print('step', i, flush=True)"
    result = await client.call_tool("execute_code", {"code": code}, progress_callback=on_progress)
    assert text_of(result) == "\n".join(f"step {i}" for i in range(5))
    assert updates and [p for p, _ in updates] == sorted(p for p, _ in updates)
    assert updates[0][1] is not None and "last line: step" in updates[0][1]


async def test_output_of_subprocesses_comes_before_the_value_every_time(client: Client) -> None:
    await run(client, "import subprocess")
    for i in range(20):
        result = await run(client, f"subprocess.run('echo out{i}; echo err{i} >&2', shell=True)\n{i}")
        lines = text_of(result).splitlines()
        assert sorted(lines[:2]) == [f"err{i}", f"out{i}"]
        assert lines[2:] == [str(i)]


async def test_a_progress_bar_redrawn_with_carriage_returns_shows_only_its_last_state(client: Client) -> None:
    code = "import sys\nfor i in range(1, 101):\n    sys.stdout.write(f'\\rprogress {i}%')\nprint()\nprint('done')"
    assert text_of(await run(client, code)) == "progress 100%\ndone"
    assert text_of(await run(client, "!echo from a shell")) == "from a shell"


async def test_descriptor_output_larger_than_a_pipe_and_split_characters_arrive_whole(client: Client) -> None:
    code = (
        "import os, subprocess\nsubprocess.run(['seq', '1', '200000'])\n"
        "e = 'é'.encode()\nos.write(1, e[:1])\n_ = os.write(1, e[1:] + b'\\n')"
    )
    result = await run(client, code)
    text = text_of(result)
    assert text.startswith("1\n2\n3\n")
    assert text.splitlines()[-3:] == ["199999", "200000", "é"]
    assert text_of(await run(client, "history[-1].output.count('\\n'), history[-1].output[-2:]")) == "(200001, 'é\\n')"
