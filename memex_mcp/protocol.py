"""What crosses between the server and the kernel runtime: message shapes and their MIME type.

Only pydantic and the standard library may be imported here; both processes load this module.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

#: The key of the cell report in the metadata of every (non-silent) execute_reply.
REPORT_KEY = "memex_report"
#: The kernel variable through which the server calls the runtime.
RPC_NAME = "__memex__"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CellReport(_Model):
    """Sent by the runtime with the reply to each (non-silent) cell."""

    execution_count: int
    #: A short traceback of the user's own frames ending in `Type: message`, when the cell failed.
    error: str | None = None
    #: The exception's type name, so the server can recognise an interrupt.
    error_type: str | None = None
    #: Length of the full output text kept in `_outputs[execution_count]`.
    output_chars: int = 0


class ScopeEntry(_Model):
    name: str
    type: str
    summary: str
    size_bytes: int | None = None


class ScopeListing(_Model):
    variables: list[ScopeEntry]
    agents: list[ScopeEntry] = []


class RpcOk(_Model):
    status: Literal["ok"] = "ok"
    result: Any = None


class RpcError(_Model):
    status: Literal["error"] = "error"
    #: A message written for the model: what went wrong and what to do.
    message: str

