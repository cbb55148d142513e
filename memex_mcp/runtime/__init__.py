"""Kernel-side runtime: `launch` starts the kernel, `extension` loads the prelude into it and
builds the kernel's one `runtime.Runtime`, which owns its parts and stops them in order at exit.

Never imports `mcp` or `jupyter_client`: it runs inside the kernel process. Kept empty so that
`python -m memex_mcp.runtime.launch` imports nothing before it has set up `sys.path`.
"""
