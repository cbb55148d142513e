"""The one settings object: built once at the edge (command line and `MEMEX_*`), passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field


def default_state_dir() -> Path:
    return Path(platformdirs.user_data_dir("memex-mcp", appauthor=False))


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    transport: Literal["stdio", "http"] = "stdio"
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    #: HTTP: principal name → bearer token. Empty: HTTP generates one token at start.
    tokens: dict[str, str] = Field(default_factory=dict)
    #: HTTP: Host and Origin header values accepted besides the bind address and loopback.
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    #: HTTP: scratchpads with a running kernel at once; more is a clear error, never a crash.
    max_sessions: int = Field(default=64, ge=1)
    #: HTTP: seconds without a call after which a scratchpad is checkpointed and its kernel stopped;
    #: it comes back from the checkpoint on the next call that names it.
    idle_timeout: float = Field(default=1800.0, gt=0, allow_inf_nan=False)
    #: HTTP: largest request body, in bytes.
    max_body_bytes: int = Field(default=4 * 2**20, ge=1024)
    #: HTTP: serve /metrics without a token (for a scraper inside a trusted network).
    metrics_public: bool = False
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    #: One JSON object per log line instead of text.
    log_json: bool = False
    data_dirs: tuple[Path, ...] = ()
    state_dir: Path = Field(default_factory=default_state_dir)
    session: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
    #: Characters of output returned per call; the rest stays in `_outputs`.
    output_limit: int = Field(default=8000, ge=200)
    #: Seconds an execution may run before it is interrupted, counted from when the kernel begins it.
    timeout: float = Field(default=120.0, gt=0, allow_inf_nan=False)
    #: Seconds after which an execute_code call returns while its execution runs on (clients give
    #: up on a call after a fixed time: 60 s for most).
    reply_within: float = Field(default=50.0, gt=0, allow_inf_nan=False)
    agent_model: str = "auto"
    answer_schema: dict[str, Any] | None = None
    mcp_config: Path | None = None
    #: Largest `code` accepted by execute_code, in characters.
    max_code_chars: int = Field(default=1_000_000, ge=1)
    #: Seconds a list_scope, submit or spawn_agent call may take before it is interrupted.
    call_timeout: float = Field(default=20.0, gt=0, allow_inf_nan=False)
    #: Seconds an interrupted execution gets to stop before the kernel is restarted.
    interrupt_grace: float = Field(default=5.0, gt=0, allow_inf_nan=False)
    #: Images returned per call, and the largest side of each, in pixels.
    max_images: int = Field(default=4, ge=0)
    image_max_side: int = Field(default=1024, ge=64)
    #: Base64 characters all images of one reply may take together (~20k tokens where a client
    #: counts them as text).
    image_budget: int = Field(default=80_000, ge=4_000)
    #: The kernel's address-space limit in bytes (RLIMIT_AS); None: no limit.
    memory_limit: int | None = Field(default=None, ge=256 * 2**20)
    #: Variables above this size are left out of checkpoints (DataFrames and Arrow tables are
    #: written as Parquet instead); 0 switches checkpoints off.
    checkpoint_max_bytes: int = Field(default=512 * 2**20, ge=0)
    #: Seconds one variable may take to load when a checkpoint is restored (plus one per 10 MB of
    #: its file); the whole restore may take ten times this before the kernel is replaced.
    restore_timeout: float = Field(default=30.0, gt=0)
    #: How each kernel is confined (memex_mcp.server.sandbox). Kernels of one server run as one user:
    #: unconfined, one client's code could read another's session files and signal its kernel.
    sandbox: Literal["auto", "bubblewrap", "landlock", "none"] = "none"
    #: `HOST[:PORT]`: each scratchpad's channel listens on TCP there (the first free port from PORT,
    #: or any free one), for kernels on other hosts; None: a unix socket.
    channel_address: str | None = None
    #: A Jupyter Kernel Gateway or Enterprise Gateway's URL: kernels start there instead of here (its
    #: token comes from MEMEX_GATEWAY_TOKEN), confined by their host rather than by `sandbox`.
    kernel_gateway: str | None = Field(default=None, pattern=r"^https?://")
    #: The kernelspec the gateway starts for each scratchpad.
    kernel_name: str = "memex"
