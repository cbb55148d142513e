"""memex measured beside variants of itself without editing it.

`before` serves memex as it was at a fixed earlier commit; `lean` is the plain message reader the
raw jupyter_client series can use. Nothing here imports the MCP SDK.
"""
