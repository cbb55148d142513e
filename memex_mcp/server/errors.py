"""One hierarchy for every error the server raises on purpose.

    MemexError                  anything memex-mcp reports; the message says what to do
    ├── ToolInputError          a tool call the model can fix (returned as a tool error)
    ├── RuntimeRefusal          the kernel's runtime refused a call (a variable that does not exist,
    │                           an answer that fails its schema): the model's to fix, with its message
    ├── KernelCallFailed        a call into the runtime failed, or its reply is not what the protocol
    │                           says: memex's own fault, never reported as the model's mistake
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


class RuntimeRefusal(MemexError):
    """The message is the runtime's, written for the model."""


class KernelCallFailed(MemexError):
    """The message says what failed, for the server's log and for a report of memex's own failure."""
