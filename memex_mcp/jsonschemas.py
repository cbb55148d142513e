"""`jsonschema`, imported in a fraction of its usual time.

When `rfc3987-syntax` is installed (jupyter_server's dependencies bring it), importing jsonschema
imports it too and builds its IRI grammar: seconds of CPU, paid by the first submit with a schema,
the first `output_schema`, and the MCP client's first validated downstream tool result. It serves
only the `iri` format checks, which are never asked for here, so it is kept out of jsonschema's
import; code that imports `rfc3987_syntax` itself later still can.

Only the standard library is imported here: the server and the kernel runtime both use it.
"""

from __future__ import annotations

import importlib
import sys
import threading
from types import ModuleType

_SLOW_OPTIONAL = "rfc3987_syntax"
_lock = threading.Lock()


def jsonschema() -> ModuleType:
    with _lock:
        if "jsonschema" in sys.modules:
            return sys.modules["jsonschema"]
        kept_out = _SLOW_OPTIONAL not in sys.modules
        if kept_out:
            sys.modules[_SLOW_OPTIONAL] = None  # type: ignore[assignment]  # makes its import fail at once
        try:
            return importlib.import_module("jsonschema")
        finally:
            if kept_out:
                del sys.modules[_SLOW_OPTIONAL]
