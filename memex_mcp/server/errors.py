"""One hierarchy for every error the server raises on purpose.

    MemexError                  anything memex-mcp reports; the message says what to do
    ├── ConfigError             bad options or files at start-up (exit code 2)
    └── ToolInputError          a tool call the model can fix (returned as a tool error)

Messages are written for whoever must act on them: the user for ConfigError, the model otherwise.
"""

from __future__ import annotations


class MemexError(Exception):
    pass


class ConfigError(MemexError):
    pass


class ToolInputError(MemexError):
    pass
