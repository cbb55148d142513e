"""The viewer's routes, mounted at `/ui`: the page, its static files and its JSON API (read-only).

    GET  /ui/                                       the page (401 and a login form without a token)
    POST /ui/login                                  the login form: sets the cookie (see `access`)
    GET  /ui/static/<file>                          the page's script and style (no data in them)
    GET  /ui/api/sessions                           the sessions this token may see
    GET  /ui/api/sessions/<id>                      one session: totals, scope, agent tree
    GET  /ui/api/sessions/<id>/history?before=N&limit=50
                                                    executions below N, newest first, each with
                                                    what the model was sent of it
    GET  /ui/api/sessions/<id>/history/<n>/output   execution n's whole output, as text
    GET  /ui/api/sessions/<id>/agents/<n>           sub-agent n with its transcript (one still
                                                    running when its session's server went is `lost`)

Every API route takes `Authorization: Bearer <token>` or the cookie. A session another principal
owns answers exactly as one that does not exist (404). `/ui/api/sessions/<id>` carries an ETag
that changes whenever the session does: a poller sending `If-None-Match` gets 304 until then.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

from mcp.server.auth.provider import TokenVerifier
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from memex_mcp.ui import history
from memex_mcp.ui.access import Gate
from memex_mcp.ui.reading import Session, Sessions, settled, tree

STATIC = Path(str(resources.files("memex_mcp.ui") / "static"))
#: Executions per history page, at most.
MAX_PAGE = 500

_NOT_FOUND = {"error": "There is no such session for you."}


def _not_found() -> JSONResponse:
    return JSONResponse(_NOT_FOUND, status_code=404)


def routes(
    state_dir: Path,
    tokens: TokenVerifier,
    security: TransportSecuritySettings,
    scoped: bool,
    open_handles: Callable[[], frozenset[str]] = frozenset,
) -> list[BaseRoute]:
    """The viewer's routes. `scoped`: each principal sees only its own scratchpads (HTTP); otherwise
    the token's holder sees every session of `state_dir` (the `ui` command). `open_handles`: the
    scratchpads whose kernels run now."""
    gate = Gate(tokens, security)

    def sessions(principal: str | None) -> Sessions:
        return Sessions(state_dir, principal if scoped else None, open_handles())

    async def index(request: Request, principal: str | None) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def list_sessions(request: Request, principal: str | None) -> Response:
        found = sessions(principal)
        items = []
        for session in found.all():
            agents = session.agents()
            items.append(
                {
                    "id": session.id,
                    "kind": session.kind,
                    "live": found.live(session),
                    "executions": len(history.executions(session)),
                    "agents": len(agents),
                    "agents_running": sum(a.get("status") == "running" for a in agents),
                    "stamp": session.stamp(),
                }
            )
        return JSONResponse({"principal": principal if scoped else None, "sessions": items})

    def opened(request: Request, principal: str | None) -> Session | None:
        return sessions(principal).find(request.path_params["session"])

    async def one_session(request: Request, principal: str | None) -> Response:
        found = sessions(principal)
        session = found.find(request.path_params["session"])
        if session is None:
            return _not_found()
        etag = f'"{session.stamp()}"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"ETag": etag})
        agents, live = session.agents(), found.live(session)
        body = {
            "id": session.id,
            "kind": session.kind,
            "live": live,
            "totals": history.totals(session, [settled(a, live) for a in agents]),
            "scope": session.scope(),
            "agents": tree(agents, live),
        }
        return JSONResponse(body, headers={"ETag": etag, "Cache-Control": "no-cache"})

    async def history_page(request: Request, principal: str | None) -> Response:
        session = opened(request, principal)
        if session is None:
            return _not_found()
        try:
            before = int(request.query_params["before"]) if "before" in request.query_params else None
            limit = min(int(request.query_params.get("limit", "50")), MAX_PAGE)
        except ValueError:
            return JSONResponse({"error": "before and limit are whole numbers, e.g. ?before=120&limit=50"}, 400)
        return JSONResponse(history.page(session, before, max(limit, 1)))

    async def output(request: Request, principal: str | None) -> Response:
        session = opened(request, principal)
        if session is None:
            return _not_found()
        line = history.find(session, request.path_params["number"])
        if line is None:
            return JSONResponse({"error": "This session has no execution with that number."}, 404)
        path = history.output_file(session, line)
        if path is not None:
            return FileResponse(path, media_type="text/plain; charset=utf-8")
        return PlainTextResponse(history.full_output(session, line))

    async def agent(request: Request, principal: str | None) -> Response:
        session = opened(request, principal)
        if session is None:
            return _not_found()
        record = session.agent(request.path_params["agent"])
        if record is None:
            return JSONResponse({"error": "This session has no agent with that number."}, 404)
        return JSONResponse(settled(record, sessions(principal).live(session)))

    async def to_index(request: Request) -> Response:
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"/ui/{query}", status_code=307)

    api = "/api/sessions/{session:str}"
    return [
        Route("/ui", to_index, methods=["GET"]),
        Mount(
            "/ui",
            routes=[
                Route("/", gate.page(index), methods=["GET"]),
                Route("/login", gate.login, methods=["POST"]),
                Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
                Route("/api/sessions", gate.api(list_sessions), methods=["GET"]),
                Route(api, gate.api(one_session), methods=["GET"]),
                Route(f"{api}/history", gate.api(history_page), methods=["GET"]),
                Route(f"{api}/history/{{number:int}}/output", gate.api(output), methods=["GET"]),
                Route(f"{api}/agents/{{agent:int}}", gate.api(agent), methods=["GET"]),
            ],
        ),
    ]
