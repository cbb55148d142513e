"""The viewer: a read-only web page of sessions (scope, history, sub-agents), served by `memex-mcp ui`
and at `/ui` on the HTTP transport. It only reads session dirs; see `reading` for what it reads."""
