"""A one-tool MCP server: the baseline for what the MCP SDK and its transport cost by themselves.

Same SDK, same transport and the same argument as memex's execute_code; the tool does nothing.
"""

from mcp.server.mcpserver import MCPServer

server = MCPServer("bare")


@server.tool()
async def execute_code(code: str) -> str:
    """Return the code."""
    return code


if __name__ == "__main__":
    import sys

    import anyio

    if sys.argv[1:2] == ["http"]:  # `http PORT`: streamable HTTP on loopback, without authentication
        anyio.run(lambda: server.run_streamable_http_async(host="127.0.0.1", port=int(sys.argv[2])))
    else:
        server.run("stdio")
