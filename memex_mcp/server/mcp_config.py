"""The `--mcp-config` file: the `mcpServers` JSON that Claude Desktop uses.

Kept apart from `downstream` (which loads the MCP client) so the command line can check the file
without importing the SDK.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["ConfigError", "ServerConfig", "read_config"]


class ConfigError(ValueError):
    """The `--mcp-config` file cannot be used; the message says why, in one line."""


class ServerConfig(BaseModel):
    """One entry of `mcpServers`, as Claude Desktop writes it (unknown keys are ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    command: str | None = None
    args: list[str] = []
    env: dict[str, str] = {}
    cwd: str | None = None
    #: A streamable HTTP server instead of a command.
    url: str | None = None
    headers: dict[str, str] = {}


class _ConfigFile(BaseModel):
    model_config = ConfigDict(extra="ignore")

    servers: dict[str, ServerConfig] = Field(alias="mcpServers")


def read_config(path: Path) -> dict[str, ServerConfig]:
    """The servers of an `mcpServers` JSON file; ConfigError says what is wrong with it."""
    try:
        raw = json.loads(path.read_text())
        servers = _ConfigFile.model_validate(raw).servers
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not JSON ({exc})") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(part) for part in err["loc"])
        raise ConfigError(
            f'{path}: {where}: {err["msg"]} (expected {{"mcpServers": {{"name": '
            '{"command": ..., "args": [...]}}}})'
        ) from None
    for name, server in servers.items():
        if (server.command is None) == (server.url is None):
            raise ConfigError(f"{path}: server {name!r} needs either a command or a url")
    return servers
