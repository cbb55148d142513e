"""One hierarchy for every error the server raises on purpose.

    MemexError                  anything memex-mcp reports; the message says what to do
    ├── ToolInputError          a tool call the model can fix (returned as a tool error)
    ├── KernelDied              the kernel exited (memex_mcp.server.kernel); the next call gets a new one
    └── SamplingUnavailable     the client cannot or will not sample (memex_mcp.server.sampling); the
                                kernel's `sampling` model raises it as a ModelError

A channel handler's MemexError reaches kernel code with its message (memex_mcp.server.channel).
Bad options at start-up are not raised: the command line reports them in one line, exit code 2.
"""

from __future__ import annotations


class MemexError(Exception):
    pass


class ToolInputError(MemexError):
    pass
