"""memex-mcp: a persistent Python kernel per MCP client, as the agent's working memory.

The package has two halves that run in two processes: `memex_mcp.server` (MCP, sessions,
kernels) and `memex_mcp.runtime` (loaded into each kernel). They share only `memex_mcp.protocol`
(message shapes) and `memex_mcp.text` (how text is cut to fit).
"""

__version__ = "0.1.0"
