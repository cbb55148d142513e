"""Who calls over HTTP: bearer tokens, each naming a principal.

A token file maps principal names to tokens (JSON: `{"alice": "…", "bob": "…"}`); `MEMEX_TOKEN` is
one token for the principal `user`. Tokens are compared in constant time, all of them on every
request, so neither the answer nor its timing says which token came close.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
from pathlib import Path

from mcp.server.auth.provider import AccessToken, TokenVerifier
from starlette.requests import Request

from memex_mcp.server.errors import MemexError

#: The principal of a single token (`MEMEX_TOKEN`, or the one generated at start).
DEFAULT_PRINCIPAL = "user"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
#: Shorter tokens are guessable; the generated ones have 256 bits.
MIN_TOKEN_CHARS = 16


class TokenFileError(MemexError):
    pass


def read_tokens(path: Path) -> dict[str, str]:
    """The principals and tokens of a token file, checked: every name a plain identifier, every token
    long enough and used once."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise TokenFileError(f"{path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise TokenFileError(f'{path}: not JSON ({exc}); write {{"alice": "<token>", "bob": "<token>"}}') from None
    if not isinstance(data, dict) or not data:
        raise TokenFileError(f'{path}: a JSON object of principal names to tokens, e.g. {{"alice": "<token>"}}')
    for name, token in data.items():
        if not _NAME.match(name):
            raise TokenFileError(f"{path}: {name!r} is not a principal name (letters, digits, '.', '_', '@', '-')")
        if not isinstance(token, str) or len(token) < MIN_TOKEN_CHARS:
            raise TokenFileError(
                f"{path}: the token of {name!r} must be a string of at least {MIN_TOKEN_CHARS} characters "
                "(python -c 'import secrets; print(secrets.token_urlsafe(32))' makes one)"
            )
    if len(set(data.values())) < len(data):
        raise TokenFileError(f"{path}: two principals share a token; give each its own")
    return dict(data)


def new_token() -> str:
    return secrets.token_urlsafe(32)


class Tokens(TokenVerifier):
    def __init__(self, tokens: dict[str, str]) -> None:
        assert tokens, "HTTP is never served without a token"
        self._tokens = [(name, token.encode()) for name, token in tokens.items()]

    async def verify_token(self, token: str) -> AccessToken | None:
        given = token.encode()
        found = None
        for name, known in self._tokens:
            if hmac.compare_digest(given, known):
                found = name
        return AccessToken(token=token, client_id=found, scopes=[]) if found is not None else None


def principal_of(request: Request | None) -> str | None:
    """The principal a request was authenticated as; None without authentication (stdio, tests)."""
    if request is None:
        return None
    user = request.scope.get("user")
    access = getattr(user, "access_token", None)
    return access.client_id if isinstance(access, AccessToken) else None
