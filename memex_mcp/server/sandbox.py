"""Kernel confinement (`--sandbox`): which mechanism works here, and the command that confines a kernel.

All kernels of a server run as one user. Confined, a kernel reads and writes its own session
directory and a private temporary directory, reads its data directories and the Python
installation, reaches its own kernel sockets and channel, and nothing else: no other session's
files, no TCP, no other kernel's processes.

    bubblewrap  namespaces: the kernel sees only what is bound in, a network with no interfaces, and
                its own processes (it is pid 2 inside, so its marker is named by the server)
    landlock    the kernel process restricts itself (memex_mcp.runtime.confine) before ipykernel
                starts: no namespaces, so it works where user namespaces are blocked (containers);
                TCP is cut with Landlock ABI 4, signals to outside processes with ABI 6
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from memex_mcp.protocol import RELAY_ENV, RuntimeConfig
from memex_mcp.runtime import confine
from memex_mcp.server.errors import MemexError

Setting = Literal["auto", "bubblewrap", "landlock", "none"]
Mechanism = Literal["bubblewrap", "landlock"]

#: Read-only system directories the interpreter and its shared libraries load from, and where
#: DuckDB and BLAS libraries look up how many CPUs and how much memory they may use (DuckDB fails to
#: open a database when a cgroup file it finds cannot be read).
_SYSTEM = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc", "/sys/fs/cgroup", "/sys/devices/system/cpu")
#: Devices a confined kernel may open (under bubblewrap, /dev is a fresh minimal one anyway).
#: Environment variables a confined kernel does not get: API keys, tokens, passwords.
_SECRET = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)$", re.IGNORECASE)
_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
#: Landlock ABI that cuts TCP (4) and scopes signals and abstract sockets (6).
_LANDLOCK_TCP, _LANDLOCK_SCOPE = 4, 6
#: bubblewrap's namespaces and process handling, the same for the probe and for every kernel. Not
#: --unshare-all: it includes --unshare-user-try and --unshare-cgroup-try, whose failure modes
#: differ by machine; these are asked for explicitly, so a machine that cannot has the probe fail.
_BWRAP_FLAGS = (
    "--unshare-user",
    "--unshare-pid",
    "--unshare-net",
    "--unshare-ipc",
    "--unshare-uts",
    "--die-with-parent",
    "--cap-drop",
    "ALL",
)


class SandboxUnavailable(MemexError):
    """The sandbox asked for cannot confine kernels on this machine; the message says what to do."""


def choose(setting: Setting) -> Mechanism | None:
    """The mechanism that confines kernels for `setting` (None: not confined), probed once per process.

    Raises SandboxUnavailable when `setting` names a mechanism that does not work here, or is
    `auto` and none does."""
    if setting == "none":
        return None
    bwrap, landlock = bubblewrap_problem(), landlock_problem()
    if setting == "bubblewrap" and bwrap is not None:
        raise SandboxUnavailable(f"--sandbox bubblewrap: {bwrap}; use --sandbox landlock or auto, or none")
    if setting == "landlock" and landlock is not None:
        raise SandboxUnavailable(f"--sandbox landlock: {landlock}; use --sandbox bubblewrap or auto, or none")
    if setting == "auto":
        if bwrap is None:
            return "bubblewrap"
        if landlock is None:
            return "landlock"
        raise SandboxUnavailable(
            f"--sandbox auto: no mechanism can confine kernels here (bubblewrap: {bwrap}; landlock: {landlock}); "
            "install bubblewrap where user namespaces are allowed, run on Linux 6.7 or later with Landlock "
            "enabled, or pass --sandbox none to run kernels unconfined"
        )
    return setting


def describe(mechanism: Mechanism | None) -> str:
    """One line for the start-up log: what confines the kernels, and how far."""
    if mechanism is None:
        return "kernels are not confined: each can read and signal what this user can (--sandbox to confine them)"
    what = "each reaches only its own session directory, its data directories and the Python installation"
    if mechanism == "bubblewrap":
        return f"kernels confined with bubblewrap: {what}, no network, no other processes"
    version = confine.abi()
    net = "no TCP" if version >= _LANDLOCK_TCP else "TCP open (Landlock ABI < 4)"
    signals = "no signals to other processes" if version >= _LANDLOCK_SCOPE else "signals unscoped (Landlock ABI < 6)"
    return f"kernels confined with Landlock ABI {version}: {what}, {net}, {signals}"


@functools.cache
def bubblewrap_problem() -> str | None:
    """Why bubblewrap cannot confine kernels here, or None when a trial sandbox ran."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bwrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    trial = [bwrap, *_BWRAP_FLAGS, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--", "true"]
    try:
        run = subprocess.run(trial, stdin=subprocess.DEVNULL, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"a trial sandbox failed ({exc})"
    if run.returncode != 0:
        said = " ".join(run.stderr.decode(errors="replace").split())[:300]
        return f"a trial sandbox failed ({said or f'exit code {run.returncode}'}); user namespaces are likely blocked"
    return None


@functools.cache
def landlock_problem() -> str | None:
    """Why Landlock cannot confine kernels here, or None when it can (ABI 4 or later: it also cuts TCP)."""
    if sys.platform != "linux":
        return "Landlock is Linux only"
    version = confine.abi()
    if version == 0:
        return "this Linux kernel has no Landlock (5.13 or later, enabled in its lsm= list)"
    if version < _LANDLOCK_TCP:
        return f"this Linux kernel's Landlock (ABI {version}) cannot block TCP; ABI 4 (Linux 6.7) is needed"
    return None


@dataclass(frozen=True)
class Confinement:
    """How one kernel is confined. `directory`: the kernel's own temporary directory (its sockets,
    its connection file, its TMPDIR and HOME), made by the caller and removed with the kernel."""

    mechanism: Mechanism
    directory: Path
    config: RuntimeConfig
    _nonce: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def wrapped(self) -> bool:
        """Whether the process the server started is a wrapper (bubblewrap) that exits with 128 + N
        when the kernel inside is killed by signal N."""
        return self.mechanism == "bubblewrap"

    @property
    def tmp(self) -> Path:
        return self.directory / "tmp"

    @property
    def cwd(self) -> Path:
        """Where the kernel starts: its session directory, the one place it keeps files."""
        return Path(self.config.session_dir)

    @property
    def marker_key(self) -> str | None:
        """The name part of the kernel's marker when the kernel cannot know its own pid as the server
        sees it (in a pid namespace): random, then the server's pid, which lives as long as the kernel
        (memex_mcp.server.session removes markers whose last number is a dead process)."""
        return f"{self._nonce}-{os.getpid()}" if self.mechanism == "bubblewrap" else None

    def runtime_config(self) -> RuntimeConfig:
        """The kernel's config: its document-index cache moves into its own session directory. The
        shared cache would let one session write what another reads, and read the index of another
        session's documents; a cache per session costs an index build per session instead."""
        return self.config.model_copy(update={"cache_dir": str(Path(self.config.session_dir) / "cache")})

    def env(self, base: Mapping[str, str]) -> dict[str, str]:
        """The kernel's environment from the server's `base`. Temporary files and settings (IPython's
        profile) go to the kernel's private directory, caches (matplotlib's font list) to its
        session's, not to the home directory it cannot reach. Secrets stay out: the code of every
        client runs here. Model providers, which need keys and network, are called by the server
        (memex_mcp.server.relay)."""
        tmp = str(self.tmp)
        cache = self.runtime_config().cache_dir
        kept = {key: value for key, value in base.items() if not _SECRET.search(key)}
        return kept | {"TMPDIR": tmp, "HOME": tmp, "XDG_CONFIG_HOME": tmp, "XDG_CACHE_HOME": cache, RELAY_ENV: "1"}

    def argv(self, kernel_argv: list[str]) -> list[str]:
        """`kernel_argv`, confined."""
        self.tmp.mkdir(mode=0o700, exist_ok=True)
        Path(self.runtime_config().cache_dir).mkdir(exist_ok=True)
        read, write = self._readable(), self._writable()
        if self.mechanism == "landlock":
            options = [*_pairs("--read", read), *_pairs("--write", write), *_pairs("--file", list(_DEVICES))]
            return [sys.executable, "-m", "memex_mcp.runtime.confine", *options, "--", *kernel_argv]
        bwrap = shutil.which("bwrap") or "bwrap"
        # Mounts apply in order: the tmpfs before what is bound into /tmp, read-only before writable,
        # so a writable directory inside a read-only one stays writable.
        return [
            bwrap,
            *_BWRAP_FLAGS,
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--tmpfs",
            "/tmp",
            *_pairs("--ro-bind", read, twice=True),
            *_pairs("--bind", write, twice=True),
            # The root and /tmp are the sandbox's own memory: read-only, so that all a kernel
            # writes is in its own directories (and counts nowhere else).
            "--remount-ro",
            "/tmp",
            "--remount-ro",
            "/",
            "--chdir",
            str(self.cwd),
            # ipykernel exits when its parent process becomes pid 1, which bubblewrap's init is from
            # the start; --die-with-parent ends the kernel with the server instead.
            "--unsetenv",
            "JPY_PARENT_PID",
            "--",
            *kernel_argv,
        ]

    def _writable(self) -> list[str]:
        return [str(self.directory), self.config.session_dir]

    def _readable(self) -> list[str]:
        python = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *sys.path}
        # An entry that holds the session directory, the shared cache or the home directory (a
        # server started with `python -m` from $HOME has it on its path) would expose them all.
        private = [Path(self.config.session_dir), Path(self.config.cache_dir), Path.home()]
        found = sorted({Path(p).resolve() for p in python if p and Path(p).exists()})
        allowed = [p for p in found if not any(_within(s, p) for s in private)]
        # Sorted, a directory comes before what it holds: what is inside one already listed goes.
        python_dirs = [str(p) for i, p in enumerate(allowed) if not any(p.is_relative_to(q) for q in allowed[:i])]
        system = [d for d in _SYSTEM if Path(d).exists()]
        data = [d for d in self.config.data_dirs if Path(d).exists()]
        # The channel's socket must exist in bubblewrap's view (read-only does: connecting is not a
        # write to the mount). Landlock does not govern connecting to a socket by its path.
        channel = self.config.channel
        socket = [str(Path(channel).parent)] if channel and self.mechanism == "bubblewrap" else []
        return [*system, *python_dirs, *data, *socket]


def _within(path: Path, parent: Path) -> bool:
    return path.resolve().is_relative_to(parent)


def _pairs(flag: str, paths: list[str], *, twice: bool = False) -> list[str]:
    return [part for path in paths for part in ((flag, path, path) if twice else (flag, path))]
