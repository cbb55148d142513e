"""The switch that keeps test runs from calling real models.

The test suite sets `MEMEX_ALLOW_MODEL_REQUESTS=0` for the whole run (kernels inherit the
environment); a test that means to reach a real provider sets it back to `1` in its own kernel.
"""

from __future__ import annotations

import os

from memex_mcp.runtime.models.base import ModelError

ENV = "MEMEX_ALLOW_MODEL_REQUESTS"


def check_allowed(model: str) -> None:
    """Raise `ModelError` when real model requests are switched off in this process."""
    if os.environ.get(ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        raise ModelError(
            f"Real model requests are switched off here ({ENV}=0), so {model} was not called. "
            f"Use a ScriptedModel, or set {ENV}=1 to allow them."
        )
