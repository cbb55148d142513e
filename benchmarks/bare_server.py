"""A one-tool MCP server: the baseline for what the MCP SDK and stdio cost by themselves.

Same SDK, same transport and the same argument as memex's execute_code; the tool does nothing.
"""

from mcp.server.mcpserver import MCPServer

server = MCPServer("bare")


@server.tool()
async def execute_code(code: str) -> str:
    """Return the code."""
    return code


if __name__ == "__main__":
    server.run("stdio")
