"""Every place the runtime reaches into ipykernel's and IPython's own objects, in one module.

Each hook below is an attribute of ipykernel 7 or IPython 9 that memex wraps, replaces or reads,
most of them private. A version that renames one would leave a kernel that runs cells but
quietly loses what the hook was for (the report in each reply, the checkpoint's ordering,
tracebacks that take seconds). So nothing here falls back: `require` runs first when the runtime
loads and raises `MissingHook` naming every missing hook and the supported versions, and the
kernel is started with extension failures re-raised, so the server reports a kernel that exited
while starting, with that message.

The `threading.Thread.start` and `ThreadPoolExecutor.submit` patches live here too: they are the
only changes memex makes to objects that are not its own and not the kernel's.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

#: What memex runs on; the package's pin says the same.
SUPPORTED = "ipykernel 7.4 or later 7.x, with IPython 9.x"


class MissingHook(SystemExit):
    """The installed ipykernel or IPython lacks something the runtime depends on.

    A SystemExit: the kernel stops before it answers anything, and its stderr's last words (which
    the server reports) are this message, not a traceback through IPython."""


def _kernel(shell: Any) -> Any:
    return getattr(shell, "kernel", None)


def _has_method(owner: Any, name: str) -> bool:
    return owner is not None and callable(getattr(owner, name, None))


def _dispatch_takes_concurrent(shell: Any) -> bool:
    dispatch = getattr(_kernel(shell), "dispatch_shell", None)
    return callable(dispatch) and "concurrent" in inspect.signature(dispatch).parameters


def _is_out_stream(stream: Any) -> bool:
    iostream = sys.modules.get("ipykernel.iostream")
    return iostream is not None and isinstance(stream, iostream.OutStream)


@dataclass(frozen=True)
class Hook:
    name: str
    #: What is lost without it.
    why: str
    present: Callable[[Any], bool]


HOOKS: tuple[Hook, ...] = (
    Hook("ZMQInteractiveShell.kernel", "the kernel the shell runs in", lambda s: _kernel(s) is not None),
    Hook(
        "DisplayHook.write_format_data",
        "a cell's value in `_outputs` and `history`",
        lambda s: _has_method(getattr(s, "displayhook", None), "write_format_data"),
    ),
    Hook(
        "DisplayPublisher.publish",
        "displays in `_outputs`, and a sub-agent's displays kept out of the cell's output",
        lambda s: _has_method(getattr(s, "display_pub", None), "publish"),
    ),
    Hook(
        "Kernel.finish_metadata",
        "the cell report each reply carries",
        lambda s: _has_method(_kernel(s), "finish_metadata"),
    ),
    Hook(
        "CachingCompiler._filename_map",
        "which traceback frames are the cells'",
        lambda s: isinstance(getattr(getattr(s, "compile", None), "_filename_map", None), dict),
    ),
    Hook(
        "Kernel.dispatch_shell(…, concurrent=)",
        "the checkpoint written before the next request begins",
        _dispatch_takes_concurrent,
    ),
    Hook(
        "Kernel._main_asyncio_lock",
        "the checkpoint written after the reply, before queued requests",
        lambda s: isinstance(getattr(_kernel(s), "_main_asyncio_lock", None), asyncio.Lock),
    ),
    Hook(
        "Kernel._publish_execute_input",
        "no echo of every cell's code on IOPub",
        lambda s: _has_method(_kernel(s), "_publish_execute_input"),
    ),
    Hook(
        "Kernel._execute_sleep",
        "no 0.5 ms sleep after every cell",
        lambda s: _kernel(s) is not None and _kernel(s).has_trait("_execute_sleep"),
    ),
    Hook(
        "Kernel.get_parent('shell')",
        "the marker naming the request a killed kernel had begun",
        lambda s: _has_method(_kernel(s), "get_parent"),
    ),
    Hook(
        "sys.stdout/sys.stderr as ipykernel OutStreams",
        "every write teed into `_outputs`, and flushes without a write skipped",
        lambda s: _is_out_stream(sys.stdout) and _is_out_stream(sys.stderr),
    ),
    Hook(
        "HistoryManager.outputs and InteractiveShell._tee",
        "no second copy of all output kept by IPython",
        lambda s: hasattr(getattr(s, "history_manager", None), "outputs") and hasattr(s, "_tee"),
    ),
    Hook(
        "Kernel.shell_channel_thread (kernel subshells)",
        "list_scope, submit and spawn_agent answered while a cell runs (the server's calls run on a subshell)",
        lambda s: (
            _kernel(s) is not None
            and getattr(_kernel(s), "shell_channel_thread", None) is not None
            and _has_method(_kernel(s), "create_subshell_request")
        ),
    ),
    Hook(
        "InteractiveShell.InteractiveTB.set_mode",
        "IPython's own traceback formatting, seconds per library error, switched off",
        lambda s: _has_method(getattr(s, "InteractiveTB", None), "set_mode"),
    ),
)


def missing(shell: InteractiveShell) -> list[Hook]:
    return [hook for hook in HOOKS if not hook.present(shell)]


def require(shell: InteractiveShell) -> None:
    """Stop the kernel with MissingHook unless every hook is there (run it before installing anything)."""
    gone = missing(shell)
    if gone:
        import IPython

        ipykernel = sys.modules.get("ipykernel")
        found = f"ipykernel {getattr(ipykernel, '__version__', 'not loaded')}, IPython {IPython.__version__}"
        lines = "; ".join(f"{hook.name} ({hook.why})" for hook in gone)
        message = (
            f"memex's kernel runtime cannot start on {found}: missing {lines}. "
            f"It supports {SUPPORTED}; install a supported version (pip install 'ipykernel>=7.4,<8' 'ipython>=9,<10')."
        )
        # sys.stderr is already ipykernel's stream to IOPub, which nobody reads yet: the process's own.
        if sys.__stderr__ is not None:
            print(message, file=sys.__stderr__, flush=True)
        raise MissingHook(message)


# -- the shell's output -----------------------------------------------------------------------


def wrap_display_hook(shell: InteractiveShell, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """A cell's value, as it is shown: `wrap(write_format_data)` replaces it."""
    hook = shell.displayhook
    hook.write_format_data = wrap(hook.write_format_data)  # type: ignore[method-assign]


def wrap_display_publisher(shell: InteractiveShell, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Every `display()`: `wrap(publish)` replaces the publisher's `publish`."""
    shell.display_pub.publish = wrap(shell.display_pub.publish)  # type: ignore[method-assign]


def tee_stream(stream: Any, write: Callable[[str], Any], flush: Callable[[], None]) -> None:
    """Route `stream.write`/`flush` (an ipykernel OutStream: sys.stdout, sys.stderr) through ours."""
    stream.write, stream.flush = write, flush


def keep_no_output_copy(shell: InteractiveShell) -> None:
    """IPython 9 keeps every string a cell writes (and every result) in `history_manager.outputs`,
    even with its history off: a second copy of all output, for good. memex's `_outputs` is the one."""
    shell._tee = _no_tee  # type: ignore[method-assign]


def forget_output_copy(shell: InteractiveShell) -> None:
    """Drop what IPython still recorded of the cell's results (see `keep_no_output_copy`)."""
    shell.history_manager.outputs.clear()  # type: ignore[union-attr]


def _no_tee(channel: str) -> Any:
    return contextlib.nullcontext()


def cell_filenames(shell: InteractiveShell) -> dict[str, int]:
    """The file name each cell was compiled under → its execution number."""
    return dict(shell.compile._filename_map)


def minimal_tracebacks(shell: InteractiveShell) -> None:
    """IPython's own report of an error goes unread (the reply carries memex's short traceback),
    but in its default mode it parses every library file of the stack to colour it: seconds for a
    pandas or DuckDB error, over half a minute for a RecursionError, long enough for the server to
    take an interrupted cell for a hung one. Minimal mode prints only `Type: message`."""
    shell.InteractiveTB.set_mode("Minimal")


# -- the kernel's request cycle ---------------------------------------------------------------


def wrap_finish_metadata(shell: InteractiveShell, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """The execute reply's metadata, built after the cell: `wrap(finish_metadata)` replaces it."""
    kernel = _kernel(shell)
    kernel.finish_metadata = wrap(kernel.finish_metadata)


def before_each_request(shell: InteractiveShell, run: Callable[[], None]) -> None:
    """Call `run()` on the main thread before the kernel handles each request of the main shell,
    before it even says it is busy: the server takes `busy` as the request begun (its timeout
    clock starts there), so work of the previous request done here is not charged to this one.
    Not for comm messages it handles while a cell runs, nor for subshells."""
    kernel = _kernel(shell)
    dispatch = kernel.dispatch_shell

    async def dispatch_shell(msg: Any, /, subshell_id: str | None = None, *, concurrent: bool = False) -> Any:
        if not concurrent and subshell_id is None and threading.current_thread() is threading.main_thread():
            run()
        return await dispatch(msg, subshell_id=subshell_id, concurrent=concurrent)

    kernel.dispatch_shell = dispatch_shell


def after_reply(shell: InteractiveShell, run: Callable[[], None]) -> bool:
    """Call `run()` once the current request's reply is out, before any request queued behind it
    (the main shell's own lock). False if no event loop runs here (a cell of a subshell or thread)."""
    lock: asyncio.Lock = _kernel(shell)._main_asyncio_lock
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False

    async def later() -> None:
        async with lock:
            run()

    task = loop.create_task(later())
    _after_reply.add(task)  # the loop keeps only a weak reference to its tasks
    task.add_done_callback(_after_reply.discard)
    return True


_after_reply: set[asyncio.Task[None]] = set()


def main_shell_busy(shell: InteractiveShell) -> bool:
    """Whether the main shell is handling a request (or running a task queued on its lock)."""
    return bool(_kernel(shell)._main_asyncio_lock.locked())


def current_request(shell: InteractiveShell) -> dict[str, Any]:
    """The header of the shell request being handled (empty if none)."""
    return (_kernel(shell).get_parent("shell") or {}).get("header") or {}


def lean_request_cycle(shell: InteractiveShell) -> None:
    """Two costs per execute request that memex's server does not need.

    ipykernel sleeps 0.5 ms after each cell ("to prevent output synchronization problems" for
    clients that stop reading at the reply); memex reads IOPub until `idle`, which follows the
    flush. It also echoes every cell's code on IOPub (`execute_input`) for other frontends; memex's
    server is the only one, and takes the `busy` status, which comes just before, as the request
    begun (see `before_each_request`)."""
    kernel = _kernel(shell)
    kernel._execute_sleep = 0.0
    kernel._publish_execute_input = _no_echo


def _no_echo(code: str, parent: Any, execution_count: int) -> None:
    return None


# -- threads ----------------------------------------------------------------------------------

_thread_start = threading.Thread.start
_submit = ThreadPoolExecutor.submit

#: Given the thread's (or task's) function on the starting thread, returns what runs instead.
Carry = Callable[[Callable[..., Any]], Callable[..., Any]]


def start_own_thread(thread: threading.Thread) -> None:
    """Start one of memex's own threads as it is: its context is what its code sets, never the
    starter's (see `carry_into_threads`)."""
    _thread_start(thread)


def carry_into_threads(carry: Carry) -> None:
    """Patch `Thread.start` and `ThreadPoolExecutor.submit` so that `carry` wraps what each new
    thread, and each pool task, runs. Idempotent: the first `carry` stays.

    Why a patch of the standard library: a new thread starts with an empty context, yet users'
    code (and a sub-agent's) starts threads, and pools, whose output must be attributed to the
    execution (or agent) that started them, the way the README's "Output of threads" describes.
    Only code memex does not write needs this; memex's own threads pass their context explicitly
    and start with `start_own_thread`."""
    if threading.Thread.start is not _thread_start:
        return

    def start(thread: threading.Thread) -> None:
        thread.run = carry(thread.run)  # type: ignore[method-assign]
        _thread_start(thread)

    def submit(executor: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        # A pool's threads outlive the code that started them: each task carries its submitter's.
        return _submit(executor, carry(fn), *args, **kwargs)

    threading.Thread.start = start  # type: ignore[method-assign, assignment]
    ThreadPoolExecutor.submit = submit  # type: ignore[method-assign, assignment]


def threads_carried() -> bool:
    """Whether `carry_into_threads` is in effect."""
    return threading.Thread.start is not _thread_start and ThreadPoolExecutor.submit is not _submit
