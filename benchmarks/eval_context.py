"""Characters that reach the model per task of the bundled eval suite: memex, tools, and mcp-server-motherduck.

The scripted policy (`scripted:oracle`) runs every bundled task in the memex harness (the real
server over stdio) and in the tools harness. The same questions are then asked of
mcp-server-motherduck, a SQL server for DuckDB, through the MCP SDK's client over stdio: its
`execute_query` tool is sent the SQL a tool-calling model would send (the tools harness's), its
tool schemas and its server instructions go to the model as an MCP client passes them on, and
the answer is handed in with the same `submit`. It has no document tools, so its document tasks
are not asked. Counted per task: the characters of the tool results, and of everything sent to
the model over the task-run's calls (every call re-sends the conversation and the tool schemas).

mcp-server-motherduck pins its own DuckDB, so it lives in a virtual environment of its own under
`.tools/motherduck`, made with pip on first use.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Literal

from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import TextContent

from benchmarks.common import ROOT
from memex_mcp.eval.harness import Outcome, answer_text
from memex_mcp.eval.harness_tools import TOOLS
from memex_mcp.eval.loop import Budget, run_task
from memex_mcp.eval.models import ChatMessage, ToolCall, ToolReply, ToolSpec
from memex_mcp.eval.run import EvalConfig, run_eval
from memex_mcp.eval.score import score
from memex_mcp.eval.scripted import RECIPES, ScriptedToolModel, policy
from memex_mcp.eval.suites import load_suite
from memex_mcp.records import TaskRun

VENV = ROOT / ".tools" / "motherduck"
VERSION = "1.1.0"
#: Seconds pip may take to make the environment (about 40 packages on a cold cache).
PIP_TIMEOUT = 600
_READERS = {".csv": "read_csv_auto", ".parquet": "read_parquet", ".jsonl": "read_json_auto"}


def motherduck() -> Path:
    """The `mcp-server-motherduck` executable, installed into `.tools/motherduck` if it is not yet.
    Raises RuntimeError with pip's reason when it cannot be installed."""
    exe = VENV / "bin" / "mcp-server-motherduck"
    if exe.exists():
        return exe
    for command in (
        [sys.executable, "-m", "venv", "--clear", str(VENV)],
        [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", f"mcp-server-motherduck=={VERSION}"],
    ):
        done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command[:4])} failed: {done.stderr.strip().splitlines()[-1:]}")
    return exe


def init_sql(data_dir: Path) -> str:
    """A view per table file, named as the kernel and the tools harness name them (the file's stem)."""
    views = [
        f"CREATE VIEW \"{p.stem}\" AS SELECT * FROM {_READERS[p.suffix]}('{p.resolve()}');"
        for p in sorted(data_dir.iterdir())
        if p.suffix in _READERS
    ]
    return "\n".join(views)


class MotherduckHarness:
    """mcp-server-motherduck's tools, and the tools harness's `submit`."""

    name: Literal["tools"] = "tools"

    def __init__(self, client: Client, tools: list[ToolSpec], instructions: str) -> None:
        self._client = client
        self.tools = [*tools, next(t for t in TOOLS if t.name == "submit")]
        self.instructions = instructions

    async def call(self, name: str, arguments: dict[str, Any]) -> Outcome:
        if name == "submit":
            return Outcome("Submitted.", answer=answer_text(arguments.get("value")))
        result = await self._client.call_tool(name, arguments)
        text = "\n".join(c.text if isinstance(c, TextContent) else f"[{c.type}]" for c in result.content)
        return Outcome(text, is_error=bool(result.is_error))


@contextlib.asynccontextmanager
async def motherduck_harness(exe: Path, data_dir: Path, log: Path) -> AsyncIterator[MotherduckHarness]:
    # An in-memory database must be opened read-write (a DuckDB rule); the views read the files.
    server = StdioServerParameters(command=str(exe), args=["--read-write", "--init-sql", init_sql(data_dir)])
    with log.open("w") as errlog:
        async with Client(stdio_client(server, errlog=errlog), mode="legacy") as client:
            listed = await client.list_tools()
            tools = [ToolSpec(t.name, t.description or "", dict(t.input_schema)) for t in listed.tools]
            yield MotherduckHarness(client, tools, client.instructions or "")


def motherduck_policy(messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]) -> ToolReply:
    """The tools harness's SQL for a table question, sent to `execute_query`; then the first cell."""
    question = next(m.text for m in messages if m.role == "user")
    recipe = RECIPES[question]
    turn = sum(1 for m in messages if m.role == "assistant")
    if turn == 0:
        return ToolReply("", [ToolCall("call_1", "execute_query", {"sql": recipe.calls[0][1]["query"]})])
    result = json.loads(next(m.text for m in reversed(messages) if m.role == "tool"))
    return ToolReply("", [ToolCall("call_2", "submit", {"value": result["rows"][0][0]})])


def _counts(record: TaskRun) -> dict[str, Any]:
    return {
        "right": record.correct,
        "turns": len(record.turns),
        "results": sum(len(r.text) for t in record.turns for r in t.results),
        "sent": sum(t.chars_in for t in record.turns),
    }


async def run() -> dict[str, Any]:
    suite = load_suite("bundled")
    work = Path(tempfile.mkdtemp(prefix="memex-bench-eval-"))
    records = await run_eval(suite, policy("oracle"), EvalConfig(out=work / "out", parallel=3), None)
    rows: dict[str, dict[str, Any]] = {t.id: {"question": t.question} for t in suite.tasks}
    for r in records:
        rows[r.task][r.harness] = _counts(r)
    note = ""
    try:
        exe = motherduck()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        note = f"mcp-server-motherduck not measured: {exc}"
    else:
        model = ScriptedToolModel(motherduck_policy, "scripted:motherduck")
        async with motherduck_harness(exe, suite.data_dir, work / "motherduck.log") as harness:
            for task in suite.tasks:
                if RECIPES[task.question].calls[0][0] != "sql":
                    continue  # a document question: the server has no tool that reads documents
                trace = await run_task(model, harness, task.question, 4, None, Budget(None))
                rows[task.id]["motherduck"] = {
                    "right": score(trace.answer, task.answer).correct,
                    "turns": len(trace.turns),
                    "results": sum(len(r.text) for t in trace.turns for r in t.results),
                    "sent": sum(t.chars_in for t in trace.turns),
                }
    return {"rows": rows, "note": note, "version": VERSION}


def render(result: dict[str, Any], command: str, when: str) -> str:
    lines = [
        "## Characters that reach the model: the eval's bundled suite",
        "",
        f"`{command}` ({when}). Scripted trajectories (`scripted:oracle`); mcp-server-motherduck "
        f"{result['version']} asked the same table questions with the same SQL through a real MCP client. "
        "Per task: characters of tool results / of everything sent to the model over the task-run's calls.",
        "",
        "| task | memex results | memex sent | tools results | tools sent | motherduck results | motherduck sent |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for task, row in result["rows"].items():
        cells = []
        for harness in ("memex", "tools", "motherduck"):
            got = row.get(harness)
            if got is None:
                cells += ["n/a", "n/a"]
            else:
                mark = "" if got["right"] else " ✗"
                cells += [f"{got['results']:,}{mark}", f"{got['sent']:,}"]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    asked = [row for row in result["rows"].values() if all(h in row for h in ("memex", "tools", "motherduck"))]
    if asked:
        sums = [
            f"{sum(row[h][k] for row in asked):,}"
            for h in ("memex", "tools", "motherduck")
            for k in ("results", "sent")
        ]
        lines.append(f"| the {len(asked)} table tasks | " + " | ".join(sums) + " |")
    if result["note"]:
        lines += ["", result["note"]]
    lines += ["", "n/a: a document question; mcp-server-motherduck has no document tool. ✗: answered wrong."]
    return "\n".join(lines)
