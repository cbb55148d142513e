"""Changes proposed for memex, measured beside the real thing without editing memex.

`server` is memex-mcp with extra kernel flags; `flush` and `echo` are IPython extensions loaded
into a kernel after memex's own runtime. Nothing here imports the MCP SDK: the extensions run
inside kernels, and must not slow them down.
"""
