"""Confine this process with Landlock, drop its capabilities, then become the kernel.

    python -m memex_mcp.runtime.confine [--read DIR]... [--write DIR]... [--file PATH]... -- ARGV...

`--read` directories may be read and run from, `--write` ones also changed, `--file` files (devices
such as /dev/null) read and written; everything else on the filesystem is out of reach. With
Landlock ABI 4 or later the process can neither connect to nor bind any TCP port; with ABI 6 or
later it can signal, and connect to abstract Unix sockets of, only processes confined with it (its
own children). The rules hold for everything ARGV starts. ARGV is exec'd, so the kernel keeps this
process's id.

Only the standard library, and little of it: this runs before every confined kernel starts.
"""

from __future__ import annotations

import ctypes
import os
import sys

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446  # the same on x86_64 and aarch64
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS, _PR_CAPBSET_DROP = 38, 24

# Filesystem rights, by the ABI that brought them.
_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_MAKE_CHAR, _MAKE_BLOCK = 1 << 6, 1 << 11
_ABI1 = (1 << 13) - 1  # execute .. make_sym
_REFER, _TRUNCATE, _IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_TCP_BIND, _TCP_CONNECT = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _syscall(number: int, *args: object) -> int:
    result = int(_libc.syscall(number, *args))
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))
    return result


def abi() -> int:
    """The Landlock ABI version this kernel offers; 0 when it has none (too old, or switched off)."""
    try:
        return _syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    except OSError:
        return 0


def _handled(version: int) -> int:
    rights = _ABI1
    if version >= 2:
        rights |= _REFER
    if version >= 3:
        rights |= _TRUNCATE
    if version >= 5:
        rights |= _IOCTL_DEV
    return rights


def restrict(read: list[str], write: list[str], files: list[str]) -> int:
    """Confine this process (and what it starts) to these paths; returns the ABI used.

    Raises OSError when Landlock is missing or a rule cannot be added; paths that do not exist are
    skipped."""
    version = abi()
    if version == 0:
        raise OSError("Landlock is not available in this Linux kernel (5.13 or later, with landlock in lsm=)")
    handled = _handled(version)
    attr = _RulesetAttr(handled, _TCP_BIND | _TCP_CONNECT if version >= 4 else 0, 0)
    if version >= 6:
        attr.scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL
    size = 24 if version >= 6 else 16 if version >= 4 else 8
    ruleset = _syscall(_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    file_rights = handled & (_EXECUTE | _WRITE_FILE | _READ_FILE | _TRUNCATE | _IOCTL_DEV)
    try:
        for paths, rights in (
            (read, _EXECUTE | _READ_FILE | _READ_DIR),
            # Every right but making device nodes, which a process as root could otherwise still do.
            (write, handled & ~(_MAKE_CHAR | _MAKE_BLOCK)),
            (files, file_rights & ~_EXECUTE),
        ):
            for path in paths:
                _allow(ruleset, path, rights)
        _drop_capabilities()
        _syscall(_RESTRICT_SELF, ruleset, ctypes.c_uint32(0))
    finally:
        os.close(ruleset)
    return version


def _allow(ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        if not os.path.isdir(path):
            rights &= _EXECUTE | _WRITE_FILE | _READ_FILE | _TRUNCATE | _IOCTL_DEV
        rule = _PathBeneathAttr(rights, fd)
        _syscall(_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), ctypes.c_uint32(0))
    finally:
        os.close(fd)


def _drop_capabilities() -> None:
    """No capabilities, now or after exec (also as root), and no way to gain any: Landlock bounds
    the filesystem, but a root process with its capabilities could still load kernel modules,
    reconfigure the network or trace what it may not read."""
    if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    for cap in range(64):
        if _libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break  # past the last capability this kernel knows (EINVAL), or not allowed to (EPERM)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable: all empty, both words
    if _libc.capset(header, data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def _parse(argv: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    options: dict[str, list[str]] = {"--read": [], "--write": [], "--file": []}
    try:
        end = argv.index("--")
    except ValueError:
        raise SystemExit("memex confine: no '--' before the command to run") from None
    head, command = argv[:end], argv[end + 1 :]
    if len(head) % 2 or not command:
        raise SystemExit("memex confine: usage: [--read|--write|--file PATH]... -- COMMAND...")
    for flag, value in zip(head[::2], head[1::2], strict=True):
        if flag not in options:
            raise SystemExit(f"memex confine: unknown option {flag}")
        options[flag].append(value)
    return options, command


def main(argv: list[str]) -> None:
    options, command = _parse(argv)
    # Its own /proc entry (the pid stays through exec): DuckDB reads its cgroup there, the standard
    # library its open descriptors. Other processes' entries stay out of reach.
    own = f"/proc/{os.getpid()}"
    try:
        restrict([*options["--read"], own], options["--write"], options["--file"])
    except OSError as exc:
        raise SystemExit(f"memex confine: could not confine the kernel with Landlock: {exc}") from None
    os.execv(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
