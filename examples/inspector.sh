#!/usr/bin/env bash
# The MCP Inspector CLI against memex-mcp. Run from the repository root.
# The Inspector 2.x needs Node >= 22.19; both install into .tools/ (no global install).
set -euo pipefail
[ -x .tools/node_modules/.bin/mcp-inspector ] ||
    npm install --prefix .tools node@22 @modelcontextprotocol/inspector@2
export PATH="$PWD/.tools/node_modules/.bin:$PATH" MCP_INSPECTOR_SECRET_STORE=memory
server=(python -m memex_mcp)

mcp-inspector --cli "${server[@]}" --method tools/list
mcp-inspector --cli "${server[@]}" --method tools/call --tool-name execute_code \
    --tool-arg 'code=import sys; print(sys.version)'
# Without --cli the Inspector opens its web UI for the same server:
#   mcp-inspector python -m memex_mcp
