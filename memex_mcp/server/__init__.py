"""Server side: MCP, sessions and kernels. The kernel-side code lives in `memex_mcp.runtime`.

`build_server` is imported lazily: the command line starts the kernel before it pays for
importing the MCP SDK, so the two overlap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from memex_mcp.server.settings import Settings

if TYPE_CHECKING:
    from memex_mcp.server.app import build_server

__all__ = ["Settings", "build_server"]


def __getattr__(name: str) -> Any:
    if name == "build_server":
        from memex_mcp.server.app import build_server

        return build_server
    raise AttributeError(name)
