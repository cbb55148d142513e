"""Kernel-side runtime: `launch` starts the kernel, `extension` loads the prelude into it.

Never imports `mcp` or `jupyter_client`: it runs inside the kernel process. Kept empty so that
`python -m memex_mcp.runtime.launch` imports nothing before it has set up `sys.path`.
"""
