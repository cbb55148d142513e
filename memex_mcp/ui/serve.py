"""`memex-mcp ui`: the viewer as a process of its own, reading a state dir that servers write.

It binds loopback by default and needs a token like the HTTP transport: `MEMEX_TOKEN`, or one it
generates and prints at start inside the link that logs a browser in. Its token's holder sees every
session of the state dir (it is the operator's view; on `--transport http`, `/ui` shows each
principal only its own scratchpads).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import uvicorn
from starlette.applications import Starlette
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from memex_mcp.server.auth import DEFAULT_PRINCIPAL, MIN_TOKEN_CHARS, Tokens, new_token
from memex_mcp.server.http import is_loopback, security
from memex_mcp.server.options import Parser, _env
from memex_mcp.server.settings import Settings, default_state_dir
from memex_mcp.ui.app import routes

DEFAULT_PORT = 8766


def parser() -> Parser:
    p = Parser(
        prog="memex-mcp ui",
        description="A read-only web page of the sessions in a state dir: each one's scope, history "
        "(full output beside what the model was sent), sub-agents and totals, live while they run. "
        "Loopback by default; the token is MEMEX_TOKEN, else one is generated and printed with the "
        "link to open.",
    )
    p.add_argument(
        "--state-dir",
        type=Path,
        default=_env("STATE_DIR", str(default_state_dir())),
        help="the state dir the servers use (default: %(default)s)",
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument(
        "--allowed-host", action="append", dest="allowed_hosts", default=[], metavar="HOST[:PORT]",
        help="a Host header to accept besides loopback and the bind address (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "--allowed-origin", action="append", dest="allowed_origins", default=[], metavar="ORIGIN",
        help="an Origin header to accept besides loopback ones (repeatable)",
    )  # fmt: skip
    return p


def app(settings: Settings) -> Starlette:
    """The viewer's ASGI app for `settings` (its state dir, bind, allowed hosts and one token)."""

    async def home(_: object) -> Response:
        return RedirectResponse("/ui/", status_code=307)

    tokens = Tokens(settings.tokens)
    return Starlette(routes=[Route("/", home), *routes(settings.state_dir, tokens, security(settings), scoped=False)])


def main(argv: Sequence[str]) -> NoReturn:
    p = parser()
    args = p.parse_args(argv)
    token = os.environ.get("MEMEX_TOKEN")
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        p.error(f"MEMEX_TOKEN must be at least {MIN_TOKEN_CHARS} characters")
    if token is None and not is_loopback(args.host):
        p.error(
            f"--host {args.host} is reachable from other machines: set MEMEX_TOKEN "
            "(a generated token is for loopback only)"
        )
    if not (args.state_dir / "sessions").is_dir():
        p.error(f"--state-dir {args.state_dir}: no sessions there yet (give the --state-dir the server uses)")
    settings = Settings(
        host=args.host,
        port=args.port,
        state_dir=args.state_dir,
        tokens={DEFAULT_PRINCIPAL: token or new_token()},
        allowed_hosts=tuple(args.allowed_hosts),
        allowed_origins=tuple(args.allowed_origins),
    )
    host = f"[{args.host}]" if ":" in args.host else args.host
    link = f"http://{host}:{args.port}/ui/"
    print(f"memex-mcp: viewer of {args.state_dir} at {link}", file=sys.stderr)
    if token is None:
        print(f"memex-mcp: open {link}?token={settings.tokens[DEFAULT_PRINCIPAL]}", file=sys.stderr)
    config = uvicorn.Config(app(settings), host=args.host, port=args.port, log_config=None, access_log=False)
    try:
        asyncio.run(uvicorn.Server(config).serve())
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(0)
