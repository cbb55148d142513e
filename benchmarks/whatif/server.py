"""memex-mcp with proposed changes: `python -m benchmarks.whatif.server [--lean-reader] FLAG...`.

FLAGs are appended to the command line memex starts kernels with (e.g.
`--IPythonKernel._execute_sleep=0`, `--ext=benchmarks.whatif.flush`); `--lean-reader` makes the
server read kernel messages with `benchmarks.whatif.lean`.
"""

import os
import sys

from benchmarks.whatif import lean
from memex_mcp.server import kernel
from memex_mcp.server.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

if __name__ == "__main__":
    flags = sys.argv[1:]
    if "--lean-reader" in flags:
        flags.remove("--lean-reader")
        lean.install()
    # The kernel inherits this environment; its launcher takes the working directory off sys.path.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))
    kernel._KERNEL_ARGV.extend(flags)
    main([])
