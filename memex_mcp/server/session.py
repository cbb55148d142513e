"""Where a scratchpad keeps its state on disk.

<state dir>/sessions/<name>/                 a named session (`--session NAME`): kept
<state dir>/sessions/.ephemeral-<pid>-<id>/  an unnamed one: removed when it closes
<state dir>/cache/                           shared by all sessions (the document index)
<temp dir>/memex-ch-<pid>-<random>/channel   the scratchpad's channel socket (a short path), unless
                                             the channel is on TCP (`--channel-address`)
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import IO

from memex_mcp.protocol import RuntimeConfig
from memex_mcp.server import channel
from memex_mcp.server.lifecycle import Lifecycle, Stage
from memex_mcp.server.settings import Settings

#: The prefix of an unnamed session's directory, which goes on with its server's pid.
EPHEMERAL = ".ephemeral-"


class SessionDir:
    def __init__(self, settings: Settings, lifecycle: Lifecycle | None = None) -> None:
        """A session of `settings`, closed by `close`, or else when `lifecycle` stops."""
        lifecycle = lifecycle or Lifecycle()
        sessions = settings.state_dir / "sessions"
        sessions.mkdir(parents=True, exist_ok=True)
        _remove_orphans(sessions)
        channel.remove_orphans(pid_alive)
        self.named = settings.session is not None
        name = settings.session or f"{EPHEMERAL}{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.path = sessions / name
        self.path.mkdir(exist_ok=True)
        _remove_stale_markers(self.path)
        self._lock = _lock(self.path) if self.named else None
        #: Another live server holds this named session. This one still starts (its database falls
        #: back to memory), restores what the other checkpointed, and writes no checkpoints: two
        #: kernels writing one checkpoint would each undo the other's.
        self.in_use_elsewhere = self.named and self._lock is None and _can_lock()
        self.cache = settings.state_dir / "cache"
        self.cache.mkdir(exist_ok=True)
        #: Where the scratchpad's channel listens; every kernel of the session connects there with
        #: its secret. On TCP the port is bound here, so the kernel's config can name it.
        self.endpoint = channel.endpoint(settings.channel_address)
        #: The channel's unix socket (None on TCP, or where there are no unix sockets).
        self.channel = self.endpoint.path
        self.config = RuntimeConfig(
            session_dir=str(self.path),
            cache_dir=str(self.cache),
            data_dirs=[str(d.resolve()) for d in settings.data_dirs],
            session=settings.session,
            output_limit=settings.output_limit,
            agent_model=settings.agent_model,
            checkpoint_max_bytes=0 if self.in_use_elsewhere else settings.checkpoint_max_bytes,
            memory_limit=settings.memory_limit,
            restore_timeout=settings.restore_timeout,
            channel=self.endpoint.address,
            channel_secret=self.endpoint.secret,
        )
        self._lifecycle = lifecycle
        lifecycle.add(Stage.FILES, self, self.close)

    def close(self) -> None:
        """Release the lock, close the channel's socket and remove an unnamed session's directory."""
        self._lifecycle.discard(Stage.FILES, self)
        if self._lock is not None:
            self._lock.close()  # closing the descriptor releases the lock
            self._lock = None
        self.endpoint.release()
        if not self.named:
            shutil.rmtree(self.path, ignore_errors=True)


def _can_lock() -> bool:
    try:
        import fcntl  # noqa: F401
    except ImportError:  # Windows: no advisory locks here
        return False
    return True


def _lock(path: Path) -> IO[bytes] | None:
    """Hold the session for this process (the lock goes with the process, however it ends);
    None when another one holds it."""
    if not _can_lock():
        return None
    import fcntl

    file = open(path / ".lock", "ab")  # noqa: SIM115 (held open for the session's lifetime)
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        file.close()
        return None
    return file


def _remove_orphans(sessions: Path) -> None:
    """Ephemeral directories whose server died without cleaning up (SIGKILL, power loss)."""
    for path in sessions.glob(f"{EPHEMERAL}*"):
        if server_alive(path.name) is False:
            shutil.rmtree(path, ignore_errors=True)


def _remove_stale_markers(path: Path) -> None:
    """Markers of kernels that are gone (memex_mcp.runtime.cells.marker), left by a server that was killed."""
    for marker in path.glob(".executing-*"):
        pid = marker.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not pid_alive(int(pid)):
            marker.unlink(missing_ok=True)


def server_alive(name: str) -> bool | None:
    """Whether the server of the unnamed session whose directory is `name` still runs; None when
    `name` is not an unnamed session's."""
    pid = name[len(EPHEMERAL) :].split("-", 1)[0] if name.startswith(EPHEMERAL) else ""
    return pid_alive(int(pid)) if pid.isdigit() else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
