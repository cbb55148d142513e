"""`memex-mcp eval` end to end: the bundled suite with the scripted policy in both harnesses (the
memex one through the real server over stdio), resuming, the report, suites, and the tool-calling
providers against loopback servers speaking OpenAI's and Anthropic's APIs."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest
from loopback import JsonHandler, JsonServer, serving

from memex_mcp.eval.cli import main
from memex_mcp.eval.models import (
    AnthropicToolModel,
    ChatMessage,
    OpenAIToolModel,
    ToolCall,
    ToolReply,
    ToolSpec,
    resolve,
)
from memex_mcp.eval.records import TaskRun
from memex_mcp.eval.report import PLOT_SIZE
from memex_mcp.eval.run import EvalConfig, load_records, run_eval
from memex_mcp.eval.scripted import ScriptedToolModel
from memex_mcp.eval.suites import SuiteError, load_suite


def records(out: Path) -> list[TaskRun]:
    return load_records(out / "trajectories.jsonl")


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_bundled_suite_runs_in_both_harnesses_and_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["bundled", "--model", "scripted:oracle", "--out", str(out), "--limit", "2", "--parallel", "4"]
    assert main(argv) == 0
    runs = records(out)
    assert sorted((r.harness, r.task) for r in runs) == sorted(
        (h, t) for h in ("memex", "tools") for t in ("orders-cancelled", "kestrel-emea-q3")
    )
    assert all(r.correct and r.stop == "answered" for r in runs), [(r.harness, r.task, r.verdict) for r in runs]
    by = {(r.harness, r.task): r for r in runs}
    # In memex the model writes code and hands in a kernel variable; in tools it calls sql and search.
    memex = by[("memex", "kestrel-emea-q3")]
    assert [c.name for t in memex.turns for c in t.tool_calls] == ["execute_code", "submit"]
    assert memex.turns[0].results[0].text.strip() == "44.6"
    assert memex.turns[1].tool_calls[0].arguments == {"variable": "answer"}
    assert memex.answer == "44.6" and memex.expected == "44.6"
    tools = by[("tools", "kestrel-emea-q3")]
    assert [c.name for t in tools.turns for c in t.tool_calls] == ["search", "submit"]
    assert "EMEA region was" in tools.turns[0].results[0].text
    assert [c.name for t in by[("tools", "orders-cancelled")].turns for c in t.tool_calls] == ["sql", "submit"]
    assert by[("tools", "orders-cancelled")].expected == by[("memex", "orders-cancelled")].answer == "7415"
    for r in runs:
        assert r.input_tokens == sum(t.input_tokens for t in r.turns) > 0
        assert r.output_tokens == sum(t.output_tokens for t in r.turns) > 0
        assert r.cost_usd == 0.0 and r.model == "scripted:oracle" and r.run == 1
        assert all(t.chars_in > 0 for t in r.turns)
    report = (out / "report.md").read_text()
    assert "| scripted:oracle | memex | 2/2 | 100% |" in report
    assert "| scripted:oracle | tools | 2/2 | 100% |" in report
    assert "| kestrel-emea-q3 | scripted:oracle | tools | 1/1 |" in report
    assert png_size(out / "report.png") == PLOT_SIZE
    assert "| scripted:oracle | memex | 2/2 | 100% |" in capsys.readouterr().out


def test_a_rerun_does_only_the_task_runs_not_recorded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    common = ["bundled", "--model", "scripted:oracle", "--out", str(out), "--harness", "tools", "--parallel", "3"]
    assert main([*common, "--limit", "1"]) == 0
    (first,) = records(out)
    # A run killed while writing leaves half a line; a task-run that failed is done again.
    failed = first.model_copy(update={"task": "customers-top-country", "stop": "error", "correct": False})
    with (out / "trajectories.jsonl").open("a") as f:
        f.write(failed.model_dump_json() + "\n" + first.model_dump_json()[:50])
    capsys.readouterr()
    assert main([*common, "--limit", "3"]) == 0
    progress = capsys.readouterr().err.splitlines()
    # Two task-runs ran: the failed one and the missing one ("[1/2] 1s tools <task>: right").
    assert sorted(line.split(": ")[0].split()[-1] for line in progress) == ["customers-top-country", "kestrel-emea-q3"]
    assert len((out / "trajectories.jsonl").read_text().splitlines()) == 5  # 1, the failed one, the cut line, 2
    latest = {r.task: r for r in records(out)}
    assert latest["orders-cancelled"] == first  # not run again
    assert latest["customers-top-country"].stop == "answered" and latest["customers-top-country"].correct
    assert latest["kestrel-emea-q3"].correct
    assert "| scripted:oracle | tools | 3/3 | 100% |" in (out / "report.md").read_text()
    # Another model's runs in the same --out are compared in the report; runs beyond --limit are not shown.
    other = first.model_copy(update={"model": "openai:gpt-4.1-mini", "cost_usd": 0.001})
    with (out / "trajectories.jsonl").open("a") as f:
        f.write(other.model_dump_json() + "\n")
    capsys.readouterr()
    assert main([*common, "--limit", "2"]) == 0
    assert "every task-run is recorded already" in capsys.readouterr().err
    report = (out / "report.md").read_text()
    assert "| scripted:oracle | tools | 2/2 | 100% |" in report
    assert "| openai:gpt-4.1-mini | tools | 1/1 | 100% |" in report


def test_suites_load_officeqa_csvs_and_sql_checkable_questions(tmp_path: Path) -> None:
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "sales.csv").write_text("region,amount\nnorth,10\nsouth,32\n")
    (tmp_path / "officeqa.csv").write_text(
        "uid,question,answer,source_files,difficulty\nUID1,What is the total?,42,sales.csv;notes.pdf,easy\n"
    )
    suite = load_suite(str(tmp_path / "officeqa.csv"))
    assert suite.data_dir == (tmp_path / "corpus").resolve()
    (task,) = suite.tasks
    assert (task.id, task.answer, task.source_files, task.difficulty) == (
        "UID1",
        "42",
        ("sales.csv", "notes.pdf"),
        "easy",
    )
    folder = tmp_path / "tables"
    folder.mkdir()
    (folder / "tasks.jsonl").write_text(
        json.dumps({"question": "Total amount?", "answer_sql": "SELECT sum(amount) FROM sales"})
        + "\n"
        + json.dumps({"question": "Regions?", "answer_sql": "SELECT region, amount FROM sales ORDER BY region"})
        + "\n"
    )
    suite = load_suite(str(folder), data_dir=tmp_path / "corpus")
    assert [(t.id, t.answer) for t in suite.tasks] == [("1", "42"), ("2", "north, 10; south, 32")]
    (folder / "tasks.jsonl").write_text(json.dumps({"question": "Total?", "answer_sql": "SELECT sum(x) FROM nope"}))
    with pytest.raises(SuiteError, match=r"task 1: its answer_sql failed: .*nope"):
        load_suite(str(folder), data_dir=tmp_path / "corpus")
    (folder / "tasks.jsonl").write_text(json.dumps({"question": "Total?"}))
    with pytest.raises(SuiteError, match="no answer; give `answer` or `answer_sql`"):
        load_suite(str(folder), data_dir=tmp_path / "corpus")
    with pytest.raises(SuiteError, match="Give --data-dir DIR"):
        load_suite(str(folder))


def test_bad_options_fail_with_what_to_give(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, message in [
        (["bundled", "--model", "scripted:oracle", "--harness", "memex,chat"], "--harness memex,chat: give memex"),
        (["bundled", "--model", "gpt-4"], "Unknown model 'gpt-4'. Use openai:<model>"),
        (["bundled", "--model", "scripted:genius"], "No scripted policy 'genius'"),
        (["nowhere.csv", "--model", "scripted:oracle"], "nowhere.csv: no such file or directory"),
    ]:
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
        assert message in capsys.readouterr().err


# --- providers against loopback servers ---------------------------------------------------


class LoopbackServer(JsonServer):
    """Speaks OpenAI's chat completions and Anthropic's messages with tools: the first turn calls
    `sql`, the next submits the text of the tool result's last line."""

    def __init__(self) -> None:
        super().__init__(LoopbackHandler)
        self.bodies: list[dict[str, Any]] = []


class LoopbackHandler(JsonHandler):
    server: LoopbackServer

    def do_POST(self) -> None:
        body = self.read_json()
        self.server.bodies.append(body)
        if body["model"] == "small-context" and any(m["role"] == "tool" for m in body.get("messages", ())):
            message = (
                "This model's maximum context length is 8192 tokens. However, your messages resulted in 9001 tokens."
            )
            self.send_json(
                {"error": {"message": message, "type": "invalid_request_error", "code": "context_length_exceeded"}}, 400
            )
            return
        if body["model"].startswith("o-") and "max_tokens" in body:  # as OpenAI's reasoning models answer
            message = (
                "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens'."
            )
            self.send_json({"error": {"message": message, "type": "invalid_request_error", "code": None}}, 400)
            return
        self.send_json(self._openai(body) if self.path == "/v1/chat/completions" else self._anthropic(body))

    def _openai(self, body: dict[str, Any]) -> dict[str, Any]:
        results = [m["content"] for m in body["messages"] if m["role"] == "tool"]
        name, arguments = ("sql", {"query": "SELECT sum(amount) AS total FROM sales"})
        if results:
            name, arguments = ("submit", {"value": results[-1].splitlines()[-1]})
        call = {
            "id": f"call_{len(results)}",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments)},
        }
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "tool_calls",
                    "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                }
            ],
            "usage": {"prompt_tokens": 100 + len(results), "completion_tokens": 9, "total_tokens": 109 + len(results)},
        }

    def _anthropic(self, body: dict[str, Any]) -> dict[str, Any]:
        blocks = [b for m in body["messages"] if isinstance(m["content"], list) for b in m["content"]]
        results = [b for b in blocks if b["type"] == "tool_result"]
        content: list[dict[str, Any]] = [{"type": "text", "text": "Let me look."}]
        if results:
            content = [{"type": "text", "text": f"It is {results[-1]['content']}."}]
        else:
            content.append({"type": "tool_use", "id": "toolu_1", "name": "sql", "input": {"query": "SELECT 42"}})
        return {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": "end_turn" if results else "tool_use",
            "stop_sequence": None,
            "usage": {"input_tokens": 200, "output_tokens": 11},
        }


@pytest.fixture
def loopback() -> Iterator[LoopbackServer]:
    with serving(LoopbackServer()) as server:
        yield server


def test_an_openai_compatible_server_drives_the_tools_harness(
    tmp_path: Path, loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMEX_ALLOW_MODEL_REQUESTS", "1")  # a loopback server, not a real model
    monkeypatch.setenv("OPENAI_BASE_URL", loopback.root + "/v1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    data = tmp_path / "data"
    data.mkdir()
    (data / "sales.csv").write_text("region,amount\nnorth,10\nsouth,32\n")
    (tmp_path / "tasks.csv").write_text(
        "id,question,answer_sql\ntotal,What is the total amount?,SELECT sum(amount) FROM sales\n"
    )
    suite = load_suite(str(tmp_path / "tasks.csv"), data_dir=data)
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"openai:tiny-local": {"input": 1.0, "output": 10.0}}))
    config = EvalConfig(harnesses=("tools",), out=tmp_path / "out", prices=prices)
    (run,) = anyio.run(run_eval, suite, resolve("openai:tiny-local"), config, None)
    assert (run.answer, run.correct, run.stop) == ("42", True, "answered")
    assert [t.input_tokens for t in run.turns] == [100, 101] and run.input_tokens == 201 and run.output_tokens == 18
    assert run.cost_usd == pytest.approx((201 * 1.0 + 18 * 10.0) / 1e6)
    first, second = loopback.bodies
    assert first["model"] == "tiny-local"
    assert [t["function"]["name"] for t in first["tools"]] == ["list_files", "sql", "search", "read_page", "submit"]
    assert first["tools"][1]["function"]["parameters"]["required"] == ["query"]
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "tool"]
    assert second["messages"][2]["tool_calls"][0]["function"]["name"] == "sql"
    assert second["messages"][3] == {"role": "tool", "tool_call_id": "call_0", "content": "total\n42"}


def test_a_conversation_that_outgrows_the_context_is_wrong_and_not_run_again(
    tmp_path: Path, loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMEX_ALLOW_MODEL_REQUESTS", "1")
    monkeypatch.setenv("OPENAI_BASE_URL", loopback.root + "/v1")
    data = tmp_path / "data"
    data.mkdir()
    (data / "sales.csv").write_text("region,amount\nnorth,10\nsouth,32\n")
    (tmp_path / "tasks.jsonl").write_text(json.dumps({"id": "t", "question": "Total?", "answer": "42"}) + "\n")
    suite = load_suite(str(tmp_path / "tasks.jsonl"), data_dir=data)
    config = EvalConfig(harnesses=("tools",), out=tmp_path / "out")
    (run,) = anyio.run(run_eval, suite, resolve("openai:small-context"), config, None)
    assert (run.stop, run.correct, len(run.turns)) == ("context", False, 1)
    assert run.error is not None and "maximum context length is 8192 tokens" in run.error
    assert run.cost_usd is None  # no price for this model: unknown, not 0
    assert anyio.run(run_eval, suite, resolve("openai:small-context"), config, None) == [run]
    assert len(loopback.bodies) == 2


def test_a_model_that_refuses_max_tokens_is_sent_max_completion_tokens(
    loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import openai

    monkeypatch.setenv("MEMEX_ALLOW_MODEL_REQUESTS", "1")
    model = OpenAIToolModel("o-tiny", client=openai.OpenAI(base_url=loopback.root + "/v1", api_key="x", max_retries=0))
    for _ in range(2):
        reply = model.complete([ChatMessage("user", "Total?")], [], 64)
        assert reply.tool_calls[0].name == "sql"
    assert [("max_tokens" in b, b.get("max_completion_tokens")) for b in loopback.bodies] == [
        (True, None),
        (False, 64),
        (False, 64),
    ]


def test_the_anthropic_provider_sends_tools_and_tool_results_as_blocks(
    loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import anthropic

    monkeypatch.setenv("MEMEX_ALLOW_MODEL_REQUESTS", "1")
    model = AnthropicToolModel("claude-test", client=anthropic.Anthropic(base_url=loopback.root, api_key="sk-ant-x"))
    tools = [ToolSpec("sql", "Run SQL.", {"type": "object", "properties": {"query": {"type": "string"}}})]
    messages = [ChatMessage("system", "Be brief."), ChatMessage("user", "What is 42?")]
    reply = model.complete(messages, tools, 256)
    assert reply.text == "Let me look." and (reply.input_tokens, reply.output_tokens) == (200, 11)
    (call,) = reply.tool_calls
    assert (call.id, call.name, call.arguments) == ("toolu_1", "sql", {"query": "SELECT 42"})
    messages += [
        ChatMessage("assistant", reply.text, tuple(reply.tool_calls)),
        ChatMessage("tool", "42", tool_call_id="toolu_1"),
    ]
    assert model.complete(messages, tools, 256).text == "It is 42."
    first, second = loopback.bodies
    assert first["system"] == "Be brief." and first["max_tokens"] == 256
    assert first["tools"] == [{"name": "sql", "description": "Run SQL.", "input_schema": tools[0].parameters}]
    assert second["messages"][1]["content"][1] == {
        "type": "tool_use",
        "id": "toolu_1",
        "name": "sql",
        "input": {"query": "SELECT 42"},
    }
    assert second["messages"][2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "42", "is_error": False}],
    }


def test_the_budget_stops_model_calls_and_a_later_run_with_more_finishes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"scripted:oracle": {"input": 1000.0, "output": 0.0}}))  # $1 per 1,000 tokens
    out = tmp_path / "out"
    common = ["bundled", "--model", "scripted:oracle", "--out", str(out), "--harness", "tools", "--limit", "2"]
    assert main([*common, "--parallel", "1", "--prices", str(prices), "--budget-usd", "0.1"]) == 0
    (stopped,) = records(out)  # the second task never started: nothing recorded for it
    assert stopped.stop == "budget" and len(stopped.turns) == 1 and not stopped.correct
    assert stopped.cost_usd == pytest.approx(stopped.input_tokens / 1000)
    assert "skipped, the budget is spent" in capsys.readouterr().err
    assert main([*common, "--prices", str(prices)]) == 0
    assert sorted((r.task, r.stop) for r in records(out)[1:]) == [
        ("kestrel-emea-q3", "answered"),
        ("orders-cancelled", "answered"),
    ]
    with pytest.raises(SystemExit):
        main(
            [
                "bundled",
                "--model",
                "scripted:oracle",
                "--out",
                str(out),
                "--budget-usd",
                "1",
                "--prices",
                str(tmp_path / "none.json"),
            ]
        )
    assert "none.json: No such file" in capsys.readouterr().err


def test_a_memex_server_that_dies_mid_task_is_recorded_as_an_error_with_its_turns(tmp_path: Path) -> None:
    def policy(messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]) -> ToolReply:
        # The kernel's parent is the server: kill it, as an out-of-memory killer would.
        code = "import os, signal; os.kill(os.getppid(), signal.SIGKILL)"
        return ToolReply("", [ToolCall("call_1", "execute_code", {"code": code})])

    suite = load_suite("bundled")
    suite = suite.model_copy(update={"tasks": suite.tasks[:1]})
    config = EvalConfig(harnesses=("memex",), out=tmp_path / "out")
    (run,) = anyio.run(run_eval, suite, ScriptedToolModel(policy, "scripted:killer"), config)
    assert run.stop == "error" and not run.correct and run.answer is None
    assert run.error is not None and run.error.startswith("the memex harness failed on execute_code: ")
    (turn,) = run.turns
    assert [c.name for c in turn.tool_calls] == ["execute_code"] and turn.results == []


def test_the_tools_harness_caps_sql_results_and_stops_long_queries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from memex_mcp.eval import harness_tools

    monkeypatch.setattr(harness_tools, "SQL_TIMEOUT", 0.5)
    data = tmp_path / "data"
    data.mkdir()
    (data / "sales.csv").write_text("region,amount\nnorth,10\nsouth,32\n")

    async def calls() -> list[harness_tools.Outcome]:
        async with harness_tools.tools_harness(data, tmp_path / "work", tmp_path / "cache") as tools:
            return [
                await tools.call("sql", {"query": "SELECT range AS n FROM range(5000)"}),
                await tools.call("sql", {"query": "SELECT repeat('x', 1000) AS wide FROM range(100)"}),
                await tools.call("sql", {"query": "SELECT count(*) FROM range(1000000) a, range(1000000) b"}),
                await tools.call("sql", {"query": "SELECT sum(amount) AS total FROM sales"}),
                await tools.call("sql", {"sql": "SELECT 1"}),
                await tools.call("list_files", {}),
            ]

    (tmp_path / "work").mkdir()
    many, wide, slow, total, wrong, files = anyio.run(calls)
    lines = many.text.splitlines()
    assert lines[:2] == ["n", "0"] and lines[1024] == "1023" and len(lines) == 1026
    assert lines[-1] == "(showing the first 1,024 rows; there are more: aggregate or page with LIMIT/OFFSET)"
    assert len(wide.text) < harness_tools.MAX_CHARS + 200 and wide.text.count("\n") == 50
    assert wide.text.endswith(
        "(cut at 50,000 characters after 49 rows; aggregate, select fewer columns or page with LIMIT/OFFSET)"
    )
    assert slow.is_error and slow.text == "TimeoutError: the query ran over 0.5 s and was stopped; make it cheaper"
    assert (total.text, total.is_error) == ("total\n42", False)  # the connection works after the stop
    assert wrong.is_error and wrong.text.startswith("Wrong arguments for sql: ")
    assert files.text.splitlines()[:3] == [
        "Tables:",
        "- sales (sales.csv): region VARCHAR, amount BIGINT",
        "Documents:",
    ]
