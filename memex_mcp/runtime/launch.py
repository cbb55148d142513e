"""The kernel's entry point: ipykernel's launcher, minus its debugger.

ipykernel imports debugpy at start-up (about 90 ms here) for a debugger no MCP client can use;
with the import blocked it starts without one, as it does where debugpy is not installed.

A Jupyter gateway hands a kernel only the variables of its start request named `KERNEL_*`: the
server's `MEMEX_*` variables (the runtime's configuration, the marker's name) come as
`KERNEL_MEMEX_*` and are taken back here (over any of the host's own), before anything reads them.
"""

import os
import sys
from pathlib import Path

_PASSED = "KERNEL_MEMEX_"

if __name__ == "__main__":
    # As ipykernel_launcher does: the working directory must not shadow modules while the kernel
    # loads; IPython puts it back for the user's code.
    if sys.path[0] == "" or Path(sys.path[0]) == Path.cwd():
        del sys.path[0]
    sys.modules["debugpy"] = None  # type: ignore[assignment]
    for name, value in list(os.environ.items()):
        if name.startswith(_PASSED):
            os.environ[name.removeprefix("KERNEL_")] = value

    from ipykernel import kernelapp

    kernelapp.launch_new_instance()
