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

from memex_mcp.jsonschemas import jsonschema as load_jsonschema
from memex_mcp.server.options import Parser
from memex_mcp.server.options import parser as _parser
from memex_mcp.server.settings import Settings

if TYPE_CHECKING:
    from memex_mcp.server.lifecycle import Lifecycle

#: Said instead of pydantic's message where that one would show a pattern or a raw byte count.
_MESSAGES = {
    "session": "a session name is 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit",
    "memory_limit": "must be at least 256M",
    "kernel_gateway": "must be an http:// or https:// URL",
}


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
            channel_address=_channel_address(args.channel_address, fail),
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
    if settings.channel_address is not None and settings.sandbox != "none":
        fail(
            f"--channel-address reaches kernels over TCP, which a kernel confined by --sandbox {settings.sandbox} "
            "cannot open; it is for kernels on other hosts (--kernel-gateway), confined there"
        )
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


def _channel_address(given: str | None, fail: Any) -> str | None:
    """`--channel-address` as given, once a port there could be bound (a bad host fails now, not at
    the first scratchpad)."""
    if given is None:
        return None
    from memex_mcp.server import channel

    try:
        channel.endpoint(given).release()
    except ValueError as exc:
        fail(f"--channel-address {exc}")
    except OSError as exc:
        fail(f"--channel-address {given}: cannot listen there ({exc.strerror or exc}); give an address of this machine")
    return given


def sandbox_setting(given: str | None, transport: str) -> Literal["auto", "bubblewrap", "landlock", "none"]:
    """`--sandbox` as given, or by default: confined over HTTP, where kernels of many clients share
    one server and one user; not over stdio, where the one client is the user starting it."""
    if given is None:
        return "auto" if transport == "http" else "none"
    # Settings checks it (MEMEX_SANDBOX is not checked by the parser's choices).
    return cast(Literal["auto", "bubblewrap", "landlock", "none"], given)


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
    jsonschema = load_jsonschema()

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
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["kernelspec"]:
        _kernelspec(argv[1:])
    if argv[:1] == ["eval"]:
        from memex_mcp.eval.cli import main as evaluate

        sys.exit(evaluate(argv[1:]))
    if argv[:1] == ["ui"]:
        from memex_mcp.ui.serve import main as ui

        ui(argv[1:])
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


def _kernelspec(argv: Sequence[str]) -> NoReturn:
    """`memex-mcp kernelspec install [--name NAME] [--prefix PREFIX | --user]`."""
    from memex_mcp.server import kernelspec

    parser = Parser(prog="memex-mcp kernelspec", description="Jupyter kernelspecs of memex kernels.")
    actions = parser.add_subparsers(dest="action", required=True, metavar="install", parser_class=Parser)
    install = actions.add_parser(
        "install",
        help="write the kernelspec",
        description="Write the Jupyter kernelspec of a memex kernel (this Python with the memex runtime "
        "loaded) where Jupyter finds it, replacing one of the same name: on a kernel host, so a Jupyter "
        "Kernel Gateway or Enterprise Gateway there starts memex kernels. Run it with the Python "
        "environment the kernels should use. Without --prefix or --user it goes into the system-wide "
        "Jupyter kernels directory.",
    )
    install.add_argument(
        "--name", default=kernelspec.DEFAULT_NAME, help="the kernel name (default %(default)s): letters, digits, -._"
    )
    where = install.add_mutually_exclusive_group()
    where.add_argument(
        "--prefix", type=Path, help="install into PREFIX/share/jupyter/kernels/NAME (e.g. a virtualenv's sys.prefix)"
    )
    where.add_argument("--user", action="store_true", help="install into this user's Jupyter kernels directory")
    args = parser.parse_args(argv)
    try:
        path = kernelspec.install(args.name, prefix=args.prefix, user=args.user)
    except ValueError as exc:
        install.error(f"--name {args.name}: {exc}")
    except OSError as exc:
        target = f"--prefix {args.prefix}" if args.prefix is not None else "the kernelspec"
        reason = exc.strerror or str(exc)
        where_ = f" ({exc.filename})" if exc.filename else ""
        install.error(f"{target}: {reason}{where_}; give a directory this user can write to")
    print(f"memex-mcp: installed the kernelspec {path.name!r} in {path}")
    sys.exit(0)


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
