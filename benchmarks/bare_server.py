"""A one-tool MCP server: the baseline for what the MCP SDK and stdio cost by themselves."""

from mcp.server.mcpserver import MCPServer

server = MCPServer("bare")


@server.tool()
async def echo(code: str) -> str:
    """Return the code."""
    return code


if __name__ == "__main__":
    server.run("stdio")
