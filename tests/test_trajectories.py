"""`trajectories()` in the kernel: an eval's runs and another session's executions as objects;
`memex-mcp eval --aggregate N`, whose aggregator reads N rollouts as variables; and what a small
local model's server sends back as a tool call."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from conftest import STATE_DIR, cell, run, settings, text_of
from loopback import JsonHandler, JsonServer, serving
from mcp import Client

from memex_mcp.eval.cli import main
from memex_mcp.eval.models import ChatMessage, OpenAIToolModel
from memex_mcp.eval.run import load_records
from memex_mcp.eval.scripted import RECIPES
from memex_mcp.records import TaskRun
from memex_mcp.server import build_server, sandbox

pytestmark = pytest.mark.anyio

QUESTION = "How many orders were cancelled?"


@pytest.fixture(scope="module")
def eval_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled suite's first task with the scripted policy: two runs in each harness and an
    aggregator over the two memex runs."""
    out = tmp_path_factory.mktemp("eval") / "out"
    argv = ["bundled", "--model", "scripted:oracle", "--out", str(out), "--limit", "1", "--aggregate", "2"]
    assert main([*argv, "--parallel", "5"]) == 0
    return out


@pytest.fixture(scope="module")
async def second(anyio_backend: str) -> AsyncIterator[Client]:
    async with Client(build_server(settings(timeout=60)), raise_exceptions=True) as c:
        yield c


def test_aggregate_runs_two_rollouts_and_an_aggregator_that_reads_them_as_variables(
    eval_out: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = load_records(eval_out / "trajectories.jsonl")
    assert sorted((r.harness, r.run) for r in records) == [
        ("memex", 1),
        ("memex", 2),
        ("memex+aggregate", 1),
        ("tools", 1),
        ("tools", 2),
    ]
    (aggregate,) = [r for r in records if r.harness == "memex+aggregate"]
    rollouts = [r for r in records if r.harness == "memex"]
    assert aggregate.rollouts == [1, 2] and aggregate.question == QUESTION
    assert (aggregate.answer, aggregate.correct, aggregate.stop) == ("7415", True, "answered")
    assert [c.name for t in aggregate.turns for c in t.tool_calls] == ["execute_code", "submit"]
    # The aggregator's first cell printed `runs`: the rollouts' answers, with their scoring hidden.
    table = aggregate.turns[0].results[0].text.splitlines()
    assert table[0].startswith("2 runs from ") and table[0].endswith("rollouts.jsonl")
    assert table[1].split() == [
        "task",
        "harness",
        "model",
        "run",
        "answer",
        "correct",
        "stop",
        "turns",
        "tokens",
        "cost",
    ]
    assert [line.split()[4:6] for line in table[2:4]] == [["7415", "-"], ["7415", "-"]]
    assert table[-1] == "7415"
    own = sum(t.input_tokens for t in aggregate.turns)
    assert aggregate.input_tokens == own + sum(r.input_tokens for r in rollouts) > own
    assert aggregate.cost_usd == 0.0
    report = (eval_out / "report.md").read_text()
    assert "| scripted:oracle | memex+aggregate | 1/1 | 100% |" in report
    assert "| scripted:oracle | memex | 2/2 | 100% |" in report
    # Resuming does nothing more; a line written before `rollouts` existed still loads.
    capsys.readouterr()
    argv = ["bundled", "--model", "scripted:oracle", "--out", str(eval_out), "--limit", "1", "--aggregate", "2"]
    assert main(argv) == 0
    assert "every task-run is recorded already" in capsys.readouterr().err
    older = json.loads(rollouts[0].model_dump_json())
    del older["rollouts"]
    assert TaskRun.model_validate(older).rollouts == []


def test_aggregate_needs_two_runs_and_the_memex_harness(capsys: pytest.CaptureFixture[str]) -> None:
    for extra, message in [
        (["--aggregate", "1"], "--aggregate 1: give at least 2 runs to aggregate"),
        (["--aggregate", "3", "--harness", "tools"], "--aggregate aggregates memex runs: include memex in --harness"),
    ]:
        with pytest.raises(SystemExit):
            main(["bundled", "--model", "scripted:oracle", *extra])
        assert message in capsys.readouterr().err


async def test_a_kernel_reads_an_eval_out_dir_as_runs_with_their_steps(eval_out: Path, second: Client) -> None:
    await cell(second, f"runs = trajectories({str(eval_out)!r})")
    table = (await cell(second, "print(runs)")).splitlines()
    assert table[0] == f"5 runs from {eval_out / 'trajectories.jsonl'}"
    assert len(table) == 7
    summary = await cell(
        second,
        "m = runs.where(harness='memex', run=1)[0]\n"
        "print(repr(m)); print(m.question, m.expected, m.answer, m.correct, m.stop, m.verdict.split(':')[0], sep='|')\n"
        "print(len(m.turns), m.turns[0].tool_calls[0]['name'], repr(m.turns[0].output.strip()), m.tokens > 0)\n"
        "print(repr(m.turns[0]))",
    )
    lines = summary.splitlines()
    assert lines[0].startswith("<Run memex orders-cancelled #1 scripted:oracle: right, answer '7415' (2 turns, ")
    assert lines[1] == f"{QUESTION}|7415|7415|True|answered|number"
    assert lines[2] == "2 execute_code '7415' True"
    assert lines[3].startswith('<Step 1: execute_code \'answer = sql("""SELECT count(*) FROM orders WHERE')
    assert await cell(second, "print(m.turns[0].code)") == RECIPES[QUESTION].code
    # The tools harness's code is the SQL it sent.
    sql = await cell(second, "print(runs.where(harness='tools')[0].turns[0].code)")
    assert sql == "SELECT count(*) FROM orders WHERE status = 'cancelled'"
    grouped = await cell(
        second,
        "print(len(runs.where(correct=False)), len(runs.where(harness=['tools', 'memex+aggregate'])),"
        " len(runs.where(lambda r: r.run == 2)), {k: len(v) for k, v in runs.by_task().items()},"
        " runs.to_frame().shape, list(runs.to_frame().columns[:5]))",
    )
    assert grouped == "0 3 2 {'orders-cancelled': 5} (5, 14) ['task', 'harness', 'model', 'run', 'answer']"
    # The file itself loads too; a corrupt line is skipped and said once.
    copy = eval_out.parent / "copy.jsonl"
    copy.write_text((eval_out / "trajectories.jsonl").read_text() + "{not json\n")
    text = await cell(second, f"again = trajectories({str(copy)!r})\nprint(len(again))")
    assert text == f"trajectories: skipped 1 corrupt line of {copy}\n5"
    result = await run(second, "runs.where(colour='red')")
    assert result.is_error and "no field 'colour'; the fields are task, harness, model" in text_of(result)


async def test_a_kernel_reads_another_running_named_sessions_executions(second: Client) -> None:
    name = f"audited-{uuid.uuid4().hex[:8]}"
    with anyio.fail_after(60):
        async with Client(build_server(settings(session=name)), raise_exceptions=True) as first:
            await cell(first, "x = 6 * 7\nprint(x)")
            await run(first, "1 / 0")
            await cell(first, "print('third')")
            # A cell's history is saved just after its reply: read again until the third's is in.
            text = await cell(
                second,
                "import time\nfor _ in range(200):\n"
                f"    ex = trajectories({name!r})\n"
                "    if len(ex) == 3:\n        break\n    time.sleep(0.05)\nprint(ex)\n"
                "print([(e.number, e.code, e.output, e.failed, e.error) for e in ex.where(number=[1, 2])])",
            )
    lines = text.splitlines()
    assert lines[0] == f"3 executions from {STATE_DIR / 'sessions' / name}"
    assert lines[1].split() == ["number", "code", "output", "failed", "seconds"]
    assert lines[2].split()[:4] == ["1", "x", "=", "6"] and lines[2].split()[-2] == "False"
    assert lines[3].split()[:4] == ["2", "1", "/", "0"] and lines[3].split()[-2] == "True"
    assert lines[5].startswith("[(1, 'x = 6 * 7\\nprint(x)', '42\\n', False, None), (2, '1 / 0', ")
    assert lines[5].endswith(", True, 'ZeroDivisionError: division by zero')]")
    # By its directory, or its saved history's file, too.
    directory = STATE_DIR / "sessions" / name
    for path in (directory, directory / "checkpoint" / "history.jsonl"):
        assert await cell(second, f"print(len(trajectories({str(path)!r})))") == "3"


async def test_what_is_neither_an_eval_nor_a_session_fails_saying_what_to_pass(second: Client, tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    for argument, message in [
        ("'no-such-session'", "trajectories('no-such-session'): no session named 'no-such-session' under "),
        (repr(str(tmp_path / "missing")), f"{tmp_path / 'missing'} does not exist. Pass an eval's --out dir"),
        (repr(str(tmp_path / "notes")), "is neither an eval's --out dir nor a session's directory. Pass "),
        ("42", "trajectories() takes a path or a session name, not int"),
    ]:
        result = await run(second, f"trajectories({argument})")
        assert result.is_error and message in text_of(result), text_of(result)
    junk = tmp_path / "junk.jsonl"
    junk.write_text('{"a": 1}\n')
    result = await run(second, f"trajectories({str(junk)!r})")
    assert result.is_error and "none of its 1 lines is a task-run record of `memex-mcp eval`" in text_of(result)


async def test_a_confined_scratchpad_reads_an_eval_under_a_data_dir_and_says_how_when_it_is_not(
    eval_out: Path, tmp_path: Path
) -> None:
    problem = sandbox.landlock_problem()
    if problem is not None:
        pytest.skip(f"landlock cannot confine kernels on this machine: {problem}")
    data = tmp_path / "data"
    shutil.copytree(eval_out, data / "eval", ignore=shutil.ignore_patterns("logs", "cache", "work"))
    with anyio.fail_after(60):
        async with Client(build_server(settings(sandbox="landlock", data_dirs=[data])), raise_exceptions=True) as c:
            assert await cell(c, f"print(len(trajectories({str(data / 'eval')!r})))") == "5"
            result = await run(c, f"trajectories({str(eval_out)!r})")
    assert result.is_error
    assert (
        f"may not read {eval_out / 'trajectories.jsonl'} (it is confined with --sandbox: it reads only its own "
        "session dir and the data dirs). Put the eval's --out dir under a data dir (--data-dir)"
    ) in text_of(result)


class _PartialCalls(JsonHandler):
    """An OpenAI-compatible server whose tool-call parser returns a call without id or name, as
    small local models' servers do."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        call = {"type": "function", "function": {"arguments": "{not json"}}
        self.send_json(
            {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": "m",
                "choices": [
                    {"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "tool_calls": [call]}}
                ],
            }
        )


def test_a_tool_call_without_id_or_name_becomes_a_call_the_loop_can_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    import openai

    monkeypatch.setenv("MEMEX_ALLOW_MODEL_REQUESTS", "1")
    with serving(JsonServer(_PartialCalls)) as server:
        client = openai.OpenAI(base_url=server.root + "/v1", api_key="x", max_retries=0)
        (call,) = OpenAIToolModel("small", client=client).complete([ChatMessage("user", "Total?")], [], 64).tool_calls
    assert (call.id, call.name, call.arguments) == ("call_1", "", {})
    assert call.error == "the tool call named no tool; call one of the tools by its name"
