"""The Jupyter kernelspec of a memex kernel, for hosts that start kernels themselves (a Jupyter
Kernel Gateway or Enterprise Gateway): this interpreter with the memex runtime loaded, started as
the server starts its own kernels.
"""

from __future__ import annotations

import errno
import json
import tempfile
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager

from memex_mcp.server.kernel import _KERNEL_ARGV

__all__ = ["DEFAULT_NAME", "install", "spec"]

DEFAULT_NAME = "memex"


def spec() -> dict[str, Any]:
    """The kernel.json of a memex kernel."""
    kernel = KernelSpec(
        argv=list(_KERNEL_ARGV),
        display_name="memex",
        language="python",
        env={"PYTHONUNBUFFERED": "1"},
        # A message reaches the kernel wherever it runs; a signal needs the process's own host, which
        # a gateway that runs kernels in containers or on a cluster does not always give.
        interrupt_mode="message",
        # The runtime starts the kernel without its debugger.
        metadata={"debugger": False},
    ).to_dict()
    # Unset, it would be written as "": kernels announce their protocol version themselves.
    del kernel["kernel_protocol_version"]
    return kernel


def install(name: str = DEFAULT_NAME, *, prefix: Path | None = None, user: bool = False) -> Path:
    """Write the kernelspec as `name` where Jupyter looks for it: PREFIX/share/jupyter/kernels/NAME,
    the user's kernels directory (`user`), else the system-wide one; an existing one is replaced.
    Returns its directory. Raises ValueError for a name Jupyter does not accept, OSError when the
    directory cannot be written."""
    if prefix is not None and prefix.exists() and not prefix.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "it is a file, not a directory")
    with tempfile.TemporaryDirectory() as source:
        (Path(source) / "kernel.json").write_text(json.dumps(spec(), indent=2) + "\n")
        where = KernelSpecManager().install_kernel_spec(
            source, kernel_name=name, user=user, prefix=str(prefix) if prefix is not None else None
        )
    return Path(where)
