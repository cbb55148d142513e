"""The kernel's `RuntimeConfig`, handed over by the server in the environment at start."""

from __future__ import annotations

import functools
import os
import tempfile

from memex_mcp.protocol import CONFIG_ENV, RuntimeConfig


@functools.cache
def load() -> RuntimeConfig:
    """The same object on every call."""
    raw = os.environ.get(CONFIG_ENV)
    if raw:
        return RuntimeConfig.model_validate_json(raw)
    # A kernel started without the server (a notebook trying the extension): a private session.
    session = tempfile.mkdtemp(prefix="memex-session-")
    return RuntimeConfig(session_dir=session, cache_dir=session)
