"""`memex-mcp`: the command line. Options and `MEMEX_*` variables become one `Settings`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn, cast

from pydantic import ValidationError

from memex_mcp import __version__
from memex_mcp.server.settings import Settings, default_state_dir

if TYPE_CHECKING:
    from memex_mcp.server.lifecycle import Lifecycle

#: Said instead of pydantic's message where that one would show a pattern or a raw byte count.
_MESSAGES = {
    "session": "a session name is 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit",
    "memory_limit": "must be at least 256M",
    "kernel_gateway": "must be an http:// or https:// URL",
}


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"MEMEX_{name}", default)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not the usage block: the caller is often a client's log, not a terminal.
        self.exit(2, f"memex-mcp: error: {message} (see memex-mcp --help)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="memex-mcp",
        description="An MCP server that gives each client a persistent Python kernel as working memory. "
        "With no command it serves MCP over stdio. Every option can also be set as MEMEX_<NAME> "
        "(upper case, '-' as '_').",
    )
    p.add_argument(
        "command",
        nargs="?",
        choices=["serve", "demo"],
        default="serve",
        help="serve (default): serve MCP; demo: run a short scripted session and show what "
        "the model saw beside what stayed in the kernel",
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
    return p


def parse(argv: Sequence[str] | None = None) -> tuple[str, Settings]:
    parser = _parser()
    args = parser.parse_args(argv)

    def fail(message: str) -> NoReturn:
        parser.error(message)

    tokens = _tokens(args, fail) if args.transport == "http" else {}
    for d in args.data_dirs or ():
        if not d.is_dir():
            fail(f"--data-dir {d}: no such directory")
    if args.mcp_config is not None and not args.mcp_config.is_file():
        fail(f"--mcp-config {args.mcp_config}: no such file")
    schema = _load_schema(args.answer_schema, fail) if args.answer_schema is not None else None
    if args.kernel_gateway is not None and args.sandbox not in (None, "none"):
        fail("--sandbox confines kernels started here; a gateway's kernels are confined by their hosts")
    try:
        settings = Settings(
            transport=args.transport,
            host=args.host,
            port=args.port,
            data_dirs=tuple(args.data_dirs or ()),
            state_dir=args.state_dir,
            session=args.session,
            output_limit=args.output_limit,
            timeout=args.timeout,
            reply_within=args.reply_within,
            max_code_chars=args.max_code_chars,
            agent_model=args.agent_model,
            answer_schema=schema,
            mcp_config=args.mcp_config,
            memory_limit=args.memory_limit,
            sandbox=sandbox_setting(args.sandbox, args.transport) if args.kernel_gateway is None else "none",
            checkpoint_max_bytes=args.checkpoint_max_bytes,
            tokens=tokens,
            allowed_hosts=tuple(args.allowed_hosts or ()),
            allowed_origins=tuple(args.allowed_origins or ()),
            max_sessions=args.max_sessions,
            idle_timeout=args.idle_timeout,
            max_body_bytes=args.max_body,
            metrics_public=args.metrics_public,
            log_level=args.log_level,
            log_json=args.log_json,
            kernel_gateway=args.kernel_gateway,
            kernel_name=args.kernel_name,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        option = str(err["loc"][0])
        fail(f"--{option.replace('_', '-')}: {_MESSAGES.get(option, err['msg'])}")
    if settings.mcp_config is not None:
        from memex_mcp.server.mcp_config import ConfigError, read_config

        try:
            read_config(settings.mcp_config)
        except ConfigError as exc:
            fail(f"--mcp-config {exc}")
    return args.command, settings


def _tokens(args: argparse.Namespace, fail: Any) -> dict[str, str]:
    """HTTP's principals and tokens. A bind beyond loopback needs tokens given, not generated ones
    printed to a terminal that may not be there."""
    from memex_mcp.server.auth import DEFAULT_PRINCIPAL, MIN_TOKEN_CHARS, TokenFileError, read_tokens
    from memex_mcp.server.http import is_loopback

    if args.session is not None:
        fail("--session is for stdio; over HTTP every client's scratchpad is kept under its own handle")
    tokens: dict[str, str] = {}
    if args.tokens is not None:
        try:
            tokens = read_tokens(args.tokens)
        except TokenFileError as exc:
            fail(f"--tokens {exc}")
    elif (token := os.environ.get("MEMEX_TOKEN")) is not None:
        if len(token) < MIN_TOKEN_CHARS:
            fail(f"MEMEX_TOKEN must be at least {MIN_TOKEN_CHARS} characters")
        tokens = {DEFAULT_PRINCIPAL: token}
    if not tokens and not is_loopback(args.host):
        fail(
            f"--host {args.host} is reachable from other machines: give the clients' tokens with --tokens FILE "
            "or MEMEX_TOKEN (a generated token is for loopback only)"
        )
    return tokens


def sandbox_setting(given: str | None, transport: str) -> Literal["auto", "bubblewrap", "landlock", "none"]:
    """`--sandbox` as given, or by default: confined over HTTP, where kernels of many clients share
    one server and one user; not over stdio, where the one client is the user starting it."""
    if given is None:
        return "auto" if transport == "http" else "none"
    # Settings checks it (MEMEX_SANDBOX is not checked by the parser's choices).
    return cast(Literal["auto", "bubblewrap", "landlock", "none"], given)


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


def _unusable(state_dir: Path) -> str | None:
    """Why sessions cannot be kept in `state_dir` (made if missing), or None if they can."""
    import tempfile

    if state_dir.exists() and not state_dir.is_dir():
        return "it is a file, not a directory"
    try:
        for sub in ("sessions", "cache"):
            (state_dir / sub).mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=state_dir / sub):
                pass
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"cannot be used: {exc.strerror or exc}{where}"
    return None


def _load_schema(path: Path, fail: Any) -> dict[str, Any]:
    import jsonschema  # type: ignore[import-untyped]

    try:
        schema = json.loads(path.read_text())
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except OSError as exc:
        fail(f"--answer-schema {path}: {exc.strerror}")
    except json.JSONDecodeError as exc:
        fail(f"--answer-schema {path}: not JSON ({exc})")
    except jsonschema.SchemaError as exc:
        fail(f"--answer-schema {path}: not a valid JSON Schema ({exc.message})")
    if not isinstance(schema, dict):
        fail(f"--answer-schema {path}: a JSON Schema must be an object")
    return dict(schema)


def main(argv: Sequence[str] | None = None) -> None:
    command, settings = parse(argv)
    if (problem := _unusable(settings.state_dir)) is not None:
        _parser().error(f"--state-dir {settings.state_dir}: {problem}; give a directory this user can write to")
    _confinement(settings)
    try:
        if command == "demo":
            from memex_mcp.server.demo import run_demo

            sys.exit(run_demo(settings))
        asyncio.run(_serve(settings))
    except KeyboardInterrupt:
        sys.exit(130)


def _confinement(settings: Settings) -> None:
    """Probe the sandbox once, before anything starts, and say how kernels will run."""
    from memex_mcp.server import sandbox

    try:
        mechanism = sandbox.choose(settings.sandbox)
    except sandbox.SandboxUnavailable as exc:
        _parser().error(str(exc))
    if settings.sandbox != "none":
        print(f"memex-mcp: {sandbox.describe(mechanism)}", file=sys.stderr)


async def _serve(settings: Settings) -> None:
    from memex_mcp.server.kernel import Kernel
    from memex_mcp.server.lifecycle import Lifecycle
    from memex_mcp.server.session import SessionDir

    lifecycle = Lifecycle()
    if settings.transport == "http":
        from memex_mcp.server.http import serve_http
        from memex_mcp.server.operations import configure_logging

        configure_logging(settings.log_level, settings.log_json)
        # uvicorn stops on SIGTERM and SIGINT itself, and the scratchpads close with the app.
        try:
            await serve_http(settings, lifecycle)
        finally:
            await lifecycle.stop()
        return
    stopping: list[asyncio.Task[None]] = []

    def terminate() -> None:
        stopping.append(asyncio.ensure_future(_terminate(lifecycle)))

    # Clients stop servers with SIGTERM. The SDK's stdin reader sits in a thread that no
    # cancellation reaches, so stop the kernels ourselves and leave.
    with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows' loop
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, terminate)

    # The kernel boots in its own process while this one imports the MCP SDK: the two take
    # about the same time, so the first call waits for neither twice.
    session = SessionDir(settings, lifecycle)
    kernel = await Kernel.launch(
        Path.cwd(), session.config, lifecycle, settings.sandbox, settings.kernel_gateway, settings.kernel_name
    )
    from memex_mcp.server.app import build_server

    await build_server(settings, launched=kernel, session=session, lifecycle=lifecycle).run_stdio_async()


async def _terminate(lifecycle: Lifecycle) -> None:
    with contextlib.suppress(Exception):
        await lifecycle.stop()
    os._exit(0)
