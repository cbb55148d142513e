"""Server side: MCP, sessions and kernels. The kernel-side code lives in `memex_mcp.runtime`."""

from memex_mcp.server.app import build_server
from memex_mcp.server.settings import Settings

__all__ = ["Settings", "build_server"]
