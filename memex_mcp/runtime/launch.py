"""The kernel's entry point: ipykernel's launcher, minus its debugger.

ipykernel imports debugpy at start-up (about 90 ms here) for a debugger no MCP client can use;
with the import blocked it starts without one, as it does where debugpy is not installed.
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    # As ipykernel_launcher does: the working directory must not shadow modules while the kernel
    # loads; IPython puts it back for the user's code.
    if sys.path[0] == "" or Path(sys.path[0]) == Path.cwd():
        del sys.path[0]
    sys.modules["debugpy"] = None  # type: ignore[assignment]

    from ipykernel import kernelapp

    kernelapp.launch_new_instance()
