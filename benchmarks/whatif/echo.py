"""Kernel extension: no `execute_input` broadcast on IOPub.

ipykernel echoes every cell's code to all frontends; memex's server is the only frontend and
never reads it, yet both processes serialize, sign, send and parse it (the whole code, each call).
"""

from typing import Any


def load_ipython_extension(shell: Any) -> None:
    shell.kernel._publish_execute_input = lambda code, parent, execution_count: None
