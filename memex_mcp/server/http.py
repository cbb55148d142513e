"""Streamable HTTP: the MCP app at /mcp with bearer tokens, Host/Origin checks, /healthz and /metrics,
served by uvicorn."""

from __future__ import annotations

import ipaddress
import logging
import sys

import uvicorn
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import AnyHttpUrl
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from memex_mcp.server.app import build_server
from memex_mcp.server.auth import DEFAULT_PRINCIPAL, Tokens, new_token
from memex_mcp.server.lifecycle import Lifecycle
from memex_mcp.server.operations import CallLog, Metrics
from memex_mcp.server.scratchpads import Many
from memex_mcp.server.settings import Settings
from memex_mcp.ui.app import routes as ui_routes

_log = logging.getLogger(__name__)

PATH = "/mcp"
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def security(settings: Settings) -> TransportSecuritySettings:
    """Host and Origin checks, armed on every bind. Loopback names are always accepted (a client on the
    machine itself); a non-loopback bind adds its own address and the operator's `--allowed-host`s."""
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
    if not is_loopback(settings.host):
        bound = f"[{settings.host}]" if ":" in settings.host else settings.host
        hosts += [f"{bound}:{settings.port}", bound]
    origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=hosts + list(settings.allowed_hosts),
        allowed_origins=origins + list(settings.allowed_origins),
    )


def http_app(settings: Settings, lifecycle: Lifecycle) -> Starlette:
    """The ASGI app; `settings.tokens` must name at least one principal."""
    base = f"http://{settings.host}:{settings.port}"
    auth = AuthSettings(
        issuer_url=AnyHttpUrl(base), resource_server_url=AnyHttpUrl(f"{base}{PATH}"), validate_token_resource=False
    )
    many = Many(settings, lifecycle)
    verifier = Tokens(settings.tokens)
    server = build_server(settings, lifecycle=lifecycle, many=many, token_verifier=verifier, auth=auth)
    metrics = Metrics(many.pads)
    server.middleware.insert(0, CallLog(metrics))

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def metrics_route(request: Request) -> Response:
        if not settings.metrics_public and not isinstance(request.scope.get("user"), AuthenticatedUser):
            return PlainTextResponse(
                "Unauthorized: send Authorization: Bearer <token>",
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return Response(metrics.text(), media_type="text/plain; version=0.0.4; charset=utf-8")

    app = server.streamable_http_app(
        streamable_http_path=PATH,
        max_request_body_size=settings.max_body_bytes,
        # Longer than a scratchpad's idle time: a session that comes back after its kernel was stopped
        # still finds its scratchpad by its id.
        session_idle_timeout=2 * settings.idle_timeout,
        # Scratchpads have their own limit (`max_sessions`, a tool error that says what to do); MCP
        # sessions are cheap and several may share one scratchpad.
        max_sessions=max(10 * settings.max_sessions, 1000),
        transport_security=security(settings),
        host=settings.host,
    )
    app.router.routes += [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_route, methods=["GET"]),
        # The viewer: each principal sees only its own scratchpads.
        *ui_routes(settings.state_dir, verifier, security(settings), True, lambda: frozenset(many.pads())),
    ]
    return app


async def serve_http(settings: Settings, lifecycle: Lifecycle) -> None:
    generated = not settings.tokens
    if generated:
        settings = settings.model_copy(update={"tokens": {DEFAULT_PRINCIPAL: new_token()}})
    app = http_app(settings, lifecycle)
    url = f"http://{settings.host}:{settings.port}{PATH}"
    print(f"memex-mcp: serving {url} (viewer at http://{settings.host}:{settings.port}/ui/)", file=sys.stderr)
    if generated:
        print(
            f"memex-mcp: token (send 'Authorization: Bearer <token>'): {settings.tokens[DEFAULT_PRINCIPAL]}",
            file=sys.stderr,
        )
    else:
        print(f"memex-mcp: {len(settings.tokens)} principal(s): {', '.join(sorted(settings.tokens))}", file=sys.stderr)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # ours (memex_mcp.server.operations.configure_logging)
        access_log=False,  # each call is logged once, by CallLog, without its arguments
        timeout_graceful_shutdown=10,
    )
    await uvicorn.Server(config).serve()
