"""Who may look: the viewer's bearer tokens, its cookie, and its Host/Origin checks.

A browser cannot send `Authorization` when it navigates, so the token is exchanged once for a
cookie: `/ui/?token=<token>` (the link `memex-mcp ui` prints) or the login form (a POST, so the
token stays out of the address bar and history) answer with a redirect to `/ui/` that sets
`memex_ui=<token>`, HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it)
and limited to `/ui`. Programs send `Authorization: Bearer <token>` instead. Either is checked
against the same tokens as `/mcp`, and names the same principal. Without one, every route but the
login answers 401.

Host and Origin are checked on every request as on `/mcp` (DNS-rebinding protection): a page of
another site that resolves its name to this machine gets 421 or 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from html import escape
from urllib.parse import parse_qs

from mcp.server.auth.provider import TokenVerifier
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

COOKIE = "memex_ui"
#: The longest login form body read (a token is 43 characters).
_FORM_BYTES = 4096

Endpoint = Callable[[Request], Awaitable[Response]]
Viewed = Callable[[Request, str | None], Awaitable[Response]]


class Gate:
    """Authenticates viewer requests; `principal` of a request is passed on to its route."""

    def __init__(self, tokens: TokenVerifier, security: TransportSecuritySettings) -> None:
        self._tokens = tokens
        self._checks = TransportSecurityMiddleware(security)

    async def principal(self, request: Request) -> str | None:
        """The principal of the request's bearer token or cookie; None without a valid one."""
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not token:
            token = request.cookies.get(COOKIE, "")
        if not token:
            return None
        access = await self._tokens.verify_token(token.strip())
        return access.client_id if access is not None else None

    def api(self, route: Viewed) -> Endpoint:
        """A JSON route: 401 without a token."""

        async def endpoint(request: Request) -> Response:
            if (refused := await self._checks.validate_request(request)) is not None:
                return refused
            principal = await self.principal(request)
            if principal is None:
                return JSONResponse(
                    {"error": "Unauthorized: send Authorization: Bearer <token>, or log in at /ui/"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
            return await route(request, principal)

        return endpoint

    def page(self, route: Viewed) -> Endpoint:
        """A page: `?token=` logs in (and redirects to a clean URL); 401 and the login form without one."""

        async def endpoint(request: Request) -> Response:
            if (refused := await self._checks.validate_request(request)) is not None:
                return refused
            given = request.query_params.get("token")
            if given is not None:
                return await self._log_in(given, request)
            principal = await self.principal(request)
            if principal is None:
                return login_page()
            return await route(request, principal)

        return endpoint

    async def login(self, request: Request) -> Response:
        """The login form's POST."""
        if (refused := await self._checks.validate_request(request)) is not None:
            return refused
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > _FORM_BYTES:
                return login_page("That is not a token.")
        token = parse_qs(body.decode(errors="replace")).get("token", [""])[0]
        return await self._log_in(token, request)

    async def _log_in(self, token: str, request: Request) -> Response:
        if await self._tokens.verify_token(token.strip()) is None:
            return login_page("That token is not valid here.")
        response = RedirectResponse("/ui/", status_code=303)
        response.set_cookie(
            COOKIE, token.strip(), path="/ui", httponly=True, samesite="strict", secure=request.url.scheme == "https"
        )
        return response


def login_page(problem: str = "") -> HTMLResponse:
    note = f'<p class="problem">{escape(problem)}</p>' if problem else ""
    return HTMLResponse(
        f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>memex viewer: log in</title>
<link rel="stylesheet" href="/ui/static/style.css"></head><body class="login">
<form method="post" action="/ui/login"><h1>memex viewer</h1>
<p>Give the token the server printed at start (or its <code>MEMEX_TOKEN</code>).</p>{note}
<input name="token" type="password" autocomplete="current-password" placeholder="token" autofocus>
<button type="submit">Log in</button></form></body></html>""",
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )
