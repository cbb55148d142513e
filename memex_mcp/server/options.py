"""The command line's options: every one also an environment variable `MEMEX_<NAME>`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import NoReturn

from memex_mcp import __version__
from memex_mcp.server.settings import default_state_dir


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"MEMEX_{name}", default)


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not the usage block: the caller is often a client's log, not a terminal.
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="memex-mcp",
        description="An MCP server that gives each client a persistent Python kernel as working memory. "
        "With no command it serves MCP over stdio. Every option can also be set as MEMEX_<NAME> "
        "(upper case, '-' as '_').",
    )
    p.add_argument(
        "command",
        nargs="?",
        choices=["serve", "demo", "kernelspec", "eval", "ui"],
        default="serve",
        help="serve (default): serve MCP; demo: run a short scripted session and show what "
        "the model saw beside what stayed in the kernel; kernelspec install: write the Jupyter "
        "kernelspec of a memex kernel, for kernel hosts (see memex-mcp kernelspec install --help); eval: run a "
        "model on a suite of questions with and without memex and compare (see memex-mcp eval --help); "
        "ui: a read-only web viewer of the sessions in the state dir (see memex-mcp ui --help)",
    )
    p.add_argument("--version", action="version", version=f"memex-mcp {__version__}")
    p.add_argument(
        "--transport",
        choices=["stdio", "http"],
        default=_env("TRANSPORT", "stdio"),
        help="stdio (default): one client; http: streamable HTTP at /mcp for many clients, each "
        "with its own scratchpad, behind bearer tokens",
    )
    p.add_argument("--host", default=_env("HOST", "127.0.0.1"), help="HTTP bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=_env("PORT", "8765"), help="HTTP port (default 8765)")
    p.add_argument(
        "--tokens",
        type=Path,
        default=_env("TOKENS"),
        metavar="FILE",
        help='HTTP: JSON file of principal names to bearer tokens, {"alice": "<token>", ...}; without it, '
        "MEMEX_TOKEN is the one token, else one is generated and printed at start",
    )
    allowed_hosts, allowed_origins = _env("ALLOWED_HOST"), _env("ALLOWED_ORIGIN")
    p.add_argument(
        "--allowed-host",
        action="append",
        dest="allowed_hosts",
        default=allowed_hosts.split(",") if allowed_hosts else None,
        metavar="HOST[:PORT]",
        help="HTTP: a Host header to accept besides loopback and the bind address, e.g. "
        "memex.example.com or memex.example.com:* (repeatable)",
    )
    p.add_argument(
        "--allowed-origin",
        action="append",
        dest="allowed_origins",
        default=allowed_origins.split(",") if allowed_origins else None,
        metavar="ORIGIN",
        help="HTTP: an Origin header to accept besides loopback ones, e.g. https://app.example.com (repeatable)",
    )
    p.add_argument(
        "--max-sessions",
        type=int,
        default=_env("MAX_SESSIONS", "64"),
        metavar="N",
        help="HTTP: scratchpads with a running kernel at once (default 64)",
    )
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=_env("IDLE_TIMEOUT", "1800"),
        metavar="SECONDS",
        help="HTTP: a scratchpad without calls for this long is checkpointed and its kernel stopped; "
        "it comes back on its next call (default 1800)",
    )
    p.add_argument(
        "--max-body",
        type=_size,
        default=_env("MAX_BODY", "4M"),
        metavar="SIZE",
        help="HTTP: largest request body (default 4M)",
    )
    p.add_argument(
        "--metrics-public",
        action="store_true",
        default=_env("METRICS_PUBLIC", "") not in ("", "0", "false"),
        help="HTTP: serve /metrics without a token",
    )
    p.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default=_env("LOG_LEVEL", "info"),
        help="log level of the server's log on stderr (default info)",
    )
    p.add_argument(
        "--log-json",
        action="store_true",
        default=_env("LOG_JSON", "") not in ("", "0", "false"),
        help="log one JSON object per line",
    )
    data_dirs = _env("DATA_DIR")
    p.add_argument(
        "--data-dir",
        action="append",
        type=Path,
        dest="data_dirs",
        default=[Path(d) for d in data_dirs.split(os.pathsep) if d] if data_dirs else None,
        help="directory of data files to load (repeatable; MEMEX_DATA_DIR takes a "
        f"'{os.pathsep}'-separated list): CSV/TSV, Parquet, JSON/JSONL and XLSX files become "
        "DuckDB views named after the file; documents (PDF, DOCX, HTML, Markdown, text) join `docs`",
    )
    p.add_argument(
        "--state-dir",
        type=Path,
        default=_env("STATE_DIR", str(default_state_dir())),
        help="where sessions persist (default: %(default)s)",
    )
    p.add_argument(
        "--session",
        default=_env("SESSION"),
        help="name of a persistent scratchpad: the next launch with the same name gets its "
        "variables, tables and history back (default: an ephemeral one, removed at exit)",
    )
    p.add_argument(
        "--output-limit",
        type=int,
        default=_env("OUTPUT_LIMIT", "8000"),
        metavar="CHARS",
        help="characters of output returned per call; the rest stays in _outputs (default 8000)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=_env("TIMEOUT", "120"),
        metavar="SECONDS",
        help="seconds an execution may run before it is interrupted, counted from its start, also "
        "across replies (default 120)",
    )
    p.add_argument(
        "--reply-within",
        type=float,
        default=_env("REPLY_WITHIN", "50"),
        metavar="SECONDS",
        help="an execute_code call returns after this long even if its execution still runs; the "
        "execution runs on and the next execute_code continues it (default 50)",
    )
    p.add_argument(
        "--max-code-chars",
        type=int,
        default=_env("MAX_CODE_CHARS", "1000000"),
        metavar="CHARS",
        help="largest code accepted by execute_code (default 1000000)",
    )
    p.add_argument(
        "--memory-limit",
        type=_size,
        default=_env("MEMORY_LIMIT"),
        metavar="SIZE",
        help="address-space limit of the kernel, e.g. 4G or 512M: an allocation beyond it raises "
        "MemoryError (at least 256M; default: no limit)",
    )
    p.add_argument(
        "--sandbox",
        choices=["auto", "bubblewrap", "landlock", "none"],
        default=_env("SANDBOX"),
        help="confine each kernel to its own session, data directories and the Python installation, "
        "with no network and no view of other processes: bubblewrap, landlock, auto (bubblewrap where "
        "it works, else Landlock) or none (default: auto over http, none over stdio)",
    )
    p.add_argument(
        "--kernel-gateway",
        default=_env("KERNEL_GATEWAY"),
        metavar="URL",
        help="start kernels on this Jupyter Kernel Gateway or Enterprise Gateway instead of here, e.g. "
        "http://gateway:8888 (its token: MEMEX_GATEWAY_TOKEN in the environment); its hosts confine them",
    )
    p.add_argument(
        "--kernel-name",
        default=_env("KERNEL_NAME", "memex"),
        metavar="NAME",
        help="the kernelspec the gateway starts, one that runs memex's runtime (default memex)",
    )
    p.add_argument(
        "--checkpoint-max-bytes",
        type=_size,
        default=_env("CHECKPOINT_MAX_BYTES", "512M"),
        metavar="SIZE",
        help="variables larger than this are left out of checkpoints; DataFrames and "
        "Arrow tables are saved as Parquet instead; 0 switches checkpoints off (default 512M)",
    )
    p.add_argument(
        "--agent-model",
        default=_env("AGENT_MODEL", "auto"),
        metavar="SPEC",
        help="model for sub-agents: auto, sampling, openai:<model>, anthropic:<model> "
        "(default auto: the provider the environment configures)",
    )
    p.add_argument(
        "--answer-schema",
        type=Path,
        default=_env("ANSWER_SCHEMA"),
        metavar="FILE",
        help="JSON Schema file that submit validates answers against",
    )
    p.add_argument(
        "--mcp-config",
        type=Path,
        default=_env("MCP_CONFIG"),
        metavar="FILE",
        help="mcpServers JSON (as Claude Desktop's) of MCP servers whose tools the kernel calls as "
        "tools.<server>.<tool>(...)",
    )
    p.add_argument(
        "--channel-address",
        default=_env("CHANNEL_ADDRESS"),
        metavar="HOST[:PORT]",
        help="kernels reach this server over TCP at HOST (each scratchpad on a port of its own: the "
        "first free one from PORT, or any free one), with a secret per scratchpad, instead of a "
        "local unix socket; for kernels on other hosts, so HOST must be reachable from them "
        "(0.0.0.0 listens everywhere and tells kernels this machine's name)",
    )
    return p


_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def _size(text: str) -> int:
    """'4G', '512M', '1.5g', '1000000' → bytes (binary units)."""
    number, unit = text.strip().upper().removesuffix("B"), ""
    if number and number[-1] in _UNITS:
        number, unit = number[:-1], number[-1]
    try:
        return int(float(number) * _UNITS[unit])
    except (ValueError, OverflowError):  # 'nan', 'inf', '1e400'
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 4G, 512M, 1000000)") from None
