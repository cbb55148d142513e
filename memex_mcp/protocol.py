"""What crosses between the server and the kernel runtime: message shapes and their MIME type.

Only pydantic and the standard library may be imported here; both processes load this module.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

#: The key of the cell report in the metadata of every (non-silent) execute_reply.
REPORT_KEY = "memex_report"
#: The kernel variable through which the server calls the runtime.
RPC_NAME = "__memex__"
#: The environment variable that hands the kernel its `RuntimeConfig` (as JSON) at start.
CONFIG_ENV = "MEMEX_RUNTIME_CONFIG"
#: Set to "1" for a confined kernel: its model providers are called by the server.
RELAY_ENV = "MEMEX_RELAY_MODELS"
#: The MIME type of progress the runtime publishes while a cell waits (indexing, sub-agents).
PROGRESS_MIME = "application/vnd.memex.progress+json"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RuntimeConfig(_Model):
    """What the kernel needs from the server's settings, fixed for the kernel's lifetime."""

    #: This session's own directory: its database file, checkpoints. Exists before the kernel starts.
    session_dir: str
    #: Caches shared by all sessions of one state dir (the document index).
    cache_dir: str
    data_dirs: list[str] = []
    session: str | None = None
    output_limit: int = 8000
    agent_model: str = "auto"
    #: Sub-agent model calls in flight at once, across all agents of the kernel.
    agent_concurrency: int = 8
    #: Wall-clock seconds a sub-agent may run before it fails (`spawn_agent(timeout=…)` overrides).
    agent_timeout: float = 600.0
    #: The server's channel for this scratchpad (`memex_mcp.runtime.channel`): a unix socket's path
    #: or `tcp://HOST:PORT`; None: no server.
    channel: str | None = None
    #: The first line the kernel sends on each channel connection; None: the server asks for none.
    channel_secret: str | None = None
    #: Variables whose estimated size is above this are not pickled into checkpoints (DataFrames and
    #: Arrow tables are written as Parquet instead). 0 switches checkpoints off.
    checkpoint_max_bytes: int = 512 * 2**20
    #: The kernel's address-space limit (RLIMIT_AS) in bytes; None: no limit.
    memory_limit: int | None = None
    #: Seconds one variable may take to load when a checkpoint is restored (plus one per 10 MB of
    #: its file); one that takes longer is not restored.
    restore_timeout: float = 30.0


class Progress(_Model):
    """Published by the runtime as display data of type PROGRESS_MIME; the server reports it."""

    progress: float
    total: float | None = None
    message: str = ""


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
    #: User variables in the scope before `pattern` filtered them.
    in_scope: int = 0


#: Answers whose compact JSON is larger than this many bytes are acknowledged, not sent back.
SEND_LIMIT = 1_000_000

#: What a submit without an answer is told, on either side.
NOTHING_TO_SUBMIT = (
    "Nothing to submit: pass the answer as `value` (any JSON value but null), or as `variable` the "
    'name of the kernel variable that holds it, e.g. submit(variable="result").'
)


class SubmitReceipt(_Model):
    """What `submit` accepted: enough to acknowledge it, and the answer itself unless it is too large
    to send (`complete` is then False and `answer` None; the whole answer stays in `submissions`)."""

    #: 1-based: the answer is `submissions[number - 1]` in the kernel.
    number: int
    #: What the answer is, in a few words: "224 records", "an object with 3 keys".
    shape: str
    #: Size of its compact JSON text, in bytes (UTF-8).
    json_bytes: int
    #: The schema it was validated against: the call's own, the server's answer schema, or none.
    schema_source: Literal["call", "server", "none"]
    #: The start of its compact JSON text.
    preview: str
    answer: Any = Field(default=None, repr=False)
    complete: bool = True

    def acknowledgement(self) -> str:
        """What the model reads, from the submit tool or a cell: a few lines, whatever the answer's size."""
        checked = {
            "call": "valid against the schema you gave",
            "server": "valid against the server's answer schema",
            "none": "no schema to check it against",
        }[self.schema_source]
        label = "Preview" if self.preview.endswith("…") else "Answer"
        text = (
            f"Accepted as submission {self.number}: {self.shape}, {human_size(self.json_bytes)} "
            f"of JSON, {checked}.\n{label}: {self.preview}"
        )
        if not self.complete:
            text += (
                f"\nIt is over {human_size(SEND_LIMIT)}, so the reply carries this preview rather than the "
                f"whole answer, which is submissions[{self.number - 1}] in the kernel."
            )
        return text


def human_size(n: int) -> str:
    """1536 → '1.5 KB': sizes as both sides word them."""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


class SpawnedAgent(_Model):
    #: The variable the agent's handle is bound to.
    variable: str


class Configured(_Model):
    #: Whether the kernel found the probe file the server wrote into the session directory (None:
    #: none was named): False means the kernel's host does not share the server's state directory.
    sees_probe: bool | None = None


class Unrestored(_Model):
    name: str
    type: str
    #: Why: not picklable, too big, a corrupt checkpoint file, or it failed to load.
    reason: str
    #: The checkpoint file kept for it (set aside until the name is bound again); "": none.
    file: str = ""


class RestoreReport(_Model):
    """What the `restore` call brought back into a new kernel from the session's checkpoint."""

    #: A checkpoint existed (False: a new session; nothing else is set).
    found: bool = False
    restored: list[str] = []
    unrestored: list[Unrestored] = []
    #: The execution after which the checkpoint was taken.
    execution_count: int = 0
    #: Executions of `history` brought back.
    history: int = 0


# Calls of the server into the runtime (`RPC_NAME`). Each request names its method and the model
# of its reply; the runtime answers with an `RpcOk` carrying that reply, or an `RpcError` when it
# refuses the call (the model's own mistake, worded for it). Anything else is a fault of memex.

ReplyT = TypeVar("ReplyT", bound=BaseModel)


class RuntimeCall(_Model, Generic[ReplyT]):
    """One call into the runtime; its reply is a `reply`."""

    reply: ClassVar[type[BaseModel]]
    method: str

    def arguments(self) -> dict[str, Any]:
        """The call's fields as keyword arguments for the runtime's handler, by their public names."""
        return {
            field.alias or name: getattr(self, name)
            for name, field in type(self).model_fields.items()
            if name != "method"
        }


class ScopeRequest(RuntimeCall[ScopeListing]):
    reply = ScopeListing
    method: Literal["scope"] = "scope"
    pattern: str | None = None


class SubmitRequest(RuntimeCall[SubmitReceipt]):
    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)
    reply = SubmitReceipt
    method: Literal["submit"] = "submit"
    value: Any = None
    variable: str | None = None
    #: `schema` on the wire and to the handler (the name is taken on a pydantic model).
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")


class SpawnAgentRequest(RuntimeCall[SpawnedAgent]):
    reply = SpawnedAgent
    method: Literal["spawn_agent"] = "spawn_agent"
    task: str
    inputs: list[str] | None = None
    output_schema: dict[str, Any] | None = None
    name: str | None = None


class ConfigureRequest(RuntimeCall[Configured]):
    reply = Configured
    method: Literal["configure"] = "configure"
    answer_schema: dict[str, Any] | None = None
    #: A file the server has just written into the session directory (its name only).
    probe: str | None = None


#: How the previous kernel's restore ended it, when it did: the next restore sets that variable aside.
RestoreEnded = Literal["crashed", "stuck"]


class RestoreRequest(RuntimeCall[RestoreReport]):
    reply = RestoreReport
    method: Literal["restore"] = "restore"
    last_attempt: RestoreEnded | None = None


#: Every call the runtime answers, by method name.
REQUESTS: dict[str, type[RuntimeCall[Any]]] = {
    kind.model_fields["method"].default: kind
    for kind in (ScopeRequest, SubmitRequest, SpawnAgentRequest, ConfigureRequest, RestoreRequest)
}


class RpcOk(_Model):
    status: Literal["ok"] = "ok"
    #: The reply model of the request's method, as JSON.
    result: Any = None


class RpcError(_Model):
    """The runtime refused the call: the model asked for something it cannot do."""

    status: Literal["error"] = "error"
    #: A message written for the model: what went wrong and what to do.
    message: str


# The channel: JSON lines over the scratchpad's unix socket or TCP port, for kernel code (any thread,
# any time, also while a cell runs) that needs the server. Each connection opens with the
# scratchpad's secret on a line of its own; then the kernel asks and the server answers.


class ChannelRequest(_Model):
    kind: Literal["request"] = "request"
    #: Unique per connection; the reply carries it back.
    id: int
    method: str
    params: dict[str, Any] = {}


class ChannelCancel(_Model):
    """The kernel stopped waiting for request `id` (timeout, interrupt): the server drops it."""

    kind: Literal["cancel"] = "cancel"
    id: int


class ChannelReply(_Model):
    id: int
    result: Any = None
    #: Set when the request failed: a message written for the model.
    error: str | None = None


class SamplingMessage(_Model):
    role: Literal["user", "assistant"]
    content: str


class SamplingParams(_Model):
    """`sampling.create`: one completion from the MCP client's own model."""

    messages: list[SamplingMessage]
    system: str | None = None
    max_tokens: int = 4096


class SamplingResult(_Model):
    text: str
    #: The model the client used, if it said.
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0


# Model providers for a confined kernel (no network, no keys): the server calls them for it.


class ModelMessage(_Model):
    role: Literal["system", "user", "assistant"]
    content: str


class ModelCall(_Model):
    """`model.complete`: one completion from `spec` (`openai:<model>`, `anthropic:<model>`), made by
    the server with its own network and keys. The answer is a `SamplingResult`."""

    spec: str
    messages: list[ModelMessage]
    max_tokens: int = 4096


# Downstream MCP servers (`--mcp-config`): the kernel's `tools` asks through the channel.


class DownstreamTool(_Model):
    #: As the downstream server names it; the kernel makes it an identifier.
    name: str
    description: str = ""
    input_schema: dict[str, Any] = {}
    #: The tool's structured result is the SDK's `{"result": …}` wrapper of a non-object value.
    wraps_result: bool = False


class DownstreamServer(_Model):
    #: As `mcpServers` names it.
    name: str
    #: Why the server cannot be used (it failed to start, or died), with its stderr tail; None: it works.
    error: str | None = None
    tools: list[DownstreamTool] = []


class DownstreamListing(_Model):
    """`tools.list`: every configured server, once each has started or failed."""

    #: The `--mcp-config` file; None: the server was started without one.
    config: str | None = None
    servers: list[DownstreamServer] = []


class ToolCallParams(_Model):
    """`tools.call`: call `tool` of downstream `server` (both as the server and config name them)."""

    server: str
    tool: str
    arguments: dict[str, Any] = {}


class ToolContent(_Model):
    type: Literal["text", "image", "audio", "blob", "other"]
    text: str | None = None
    #: Base64, for images, audio and binary resources.
    data: str | None = None
    mime_type: str | None = None


class ToolCallResult(_Model):
    is_error: bool = False
    structured: dict[str, Any] | None = None
    content: list[ToolContent] = []
