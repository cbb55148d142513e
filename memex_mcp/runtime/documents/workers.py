"""Extraction in worker processes, safe in the kernel: each worker is a new interpreter
(`python -m memex_mcp.runtime.documents.workers`; forking the kernel, which has threads, could
deadlock the child) that talks to it over its stdin and stdout only, so it needs nothing a confined
kernel lacks (no shared memory, no sockets) and is confined as the kernel is. A worker exits when
the kernel does, even in the middle of a file. One that dies on a file (a PDF that crashes its
reader) costs that file only: its jobs run in order, so the one it held is known, and the files
queued behind it go to a new worker.

A worker that hangs on a file (a PDF that sends its reader into an endless loop) costs that file
only too: a job that shows no progress for `STALL_SECONDS` (none since it began, or since the work
last called `progress()`: the PDF reader does after each page) has its worker killed, and is given
up as a crashed one is. The limit is on progress, not on the whole file, so a 3,000-page PDF reads
to its end while a page that never ends is caught as soon as a short file's would be. Jobs run in
this process have no limit: the caller decides what runs here (see `build`).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Generic, TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")

#: Jobs sent ahead to a worker, so it never waits for the next one while the kernel stores the last.
QUEUED_PER_WORKER = 2
#: Why a file was skipped when reading it killed the process.
CRASHED = "reading it crashed the reader (the process died): the file is probably corrupt"
#: Seconds a job in a worker may go without progress before its worker is killed. Reading a PDF
#: page's text takes milliseconds (a page crowded with tables well under a second), and a whole
#: file in a format without pages (a 100 MB HTML file) a few seconds: far above both, and below
#: the default cell timeout (120 s), so a build that meets a hanging file ends in the cell that waits for it.
STALL_SECONDS = 60.0
_LENGTH = 8
#: In a worker: where its replies go (`progress` writes there too); None in any other process.
_replies: IO[bytes] | None = None
#: Seconds between two signs of progress sent (a page takes milliseconds: most calls send nothing).
_PROGRESS_EVERY = 1.0
_progressed = 0.0


def hung(seconds: float) -> str:
    """Why a file was skipped when its reader made no progress for `seconds`."""
    return (
        f"reading it took over {seconds:g} s without progress (the reader hung): the file is probably "
        "malformed; convert it (e.g. print it to a new PDF) or remove it from the data dir"
    )


def progress() -> None:
    """Called by a job's work now and then (after each page): the job is not hung. Cheap, and does
    nothing outside a worker."""
    global _progressed
    if _replies is not None and (now := time.monotonic()) - _progressed >= _PROGRESS_EVERY:
        _progressed = now
        _write(_replies, ("alive", None))


@dataclass
class _Worker(Generic[Job]):
    process: subprocess.Popen[bytes]
    sent: deque[Job] = field(default_factory=deque)
    #: When the job it holds (`sent[0]`) began or last showed progress (`time.monotonic()`).
    since: float = 0.0


def extract_all(
    jobs: Iterable[Job],
    work: Callable[[Job], Result],
    crashed: Callable[[Job, str], Result],
    workers: int,
    *,
    here: Callable[[Job], Result] | None = None,
    stall: float = STALL_SECONDS,
) -> Iterator[tuple[Job, Result]]:
    """(job, `work(job)`) for every job, in the order they finish: in that many `workers` processes,
    or in this one when `workers` is 0 (or no worker can be started), where `here(job)` runs
    instead of `work(job)` if given. A job whose process died gives `crashed(job, CRASHED)`, one
    that made no progress for `stall` seconds `crashed(job, hung(stall))`. `work` must be a
    module-level function, and should not raise for a bad input (an exception it raises is raised here).
    `jobs` may be a deque that the caller extends between results: the jobs added are run too."""
    queue = jobs if isinstance(jobs, deque) else deque(jobs)
    if workers > 0:
        yield from _pooled(queue, work, crashed, workers, stall)
    while queue:
        job = queue.popleft()
        yield job, (here or work)(job)


def _pooled(
    queue: deque[Job],
    work: Callable[[Job], Result],
    crashed: Callable[[Job, str], Result],
    workers: int,
    stall: float,
) -> Iterator[tuple[Job, Result]]:
    """Run `queue`'s jobs in worker processes; those left when no worker could be started stay in it."""
    pool: list[_Worker[Job]] = []
    selector = selectors.DefaultSelector()
    finished = False

    def give_up(worker: _Worker[Job], why: str) -> tuple[Job, Result]:
        """`worker` died or hangs on its job: the ones queued behind go to another worker."""
        job = worker.sent.popleft()
        queue.extendleft(reversed(worker.sent))
        worker.sent.clear()
        selector.unregister(worker.process.stdout)  # type: ignore[arg-type]
        pool.remove(worker)
        _stop(worker, now=True)
        return job, crashed(job, why)

    try:
        while queue or any(w.sent for w in pool):
            while queue and len(pool) < workers:
                try:
                    worker = _start()
                except OSError:  # cannot start a process here: the rest is read in this one
                    if not pool:
                        return
                    break
                pool.append(worker)
                selector.register(worker.process.stdout, selectors.EVENT_READ, worker)  # type: ignore[arg-type]
            for worker in pool:
                while queue and len(worker.sent) < QUEUED_PER_WORKER:
                    if not worker.sent:
                        worker.since = time.monotonic()
                    job = queue.popleft()
                    worker.sent.append(job)
                    _send(worker, (work, job))
            busy = [w.since + stall for w in pool if w.sent]
            wait = max(0.0, min(busy) - time.monotonic()) if busy else None
            for key, _ in selector.select(wait):
                worker = key.data
                reply = _receive(worker.process.stdout)
                if reply is None:  # it died on its job
                    yield give_up(worker, CRASHED)
                    continue
                kind, value = reply
                worker.since = time.monotonic()
                if kind == "alive":
                    continue
                if kind == "error":
                    raise value
                yield worker.sent.popleft(), value
            now = time.monotonic()
            for worker in [w for w in pool if w.sent and now - w.since >= stall]:
                yield give_up(worker, hung(stall))
        finished = True
    finally:
        selector.close()
        for worker in pool:  # done: they exit at the end of their input; interrupted: at once
            _stop(worker, now=not finished)


def _start() -> _Worker[Any]:
    # A process group of its own: an interrupt sent to the kernel's group must not kill a worker
    # mid-file (its file would be taken for one that crashes the reader).
    process = subprocess.Popen(
        [sys.executable, "-m", __name__, str(os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        bufsize=0,
        process_group=0,
    )
    worker: _Worker[Any] = _Worker(process)
    _send(worker, sys.path)  # so it imports what this process would
    return worker


def _stop(worker: _Worker[Any], now: bool) -> None:
    assert worker.process.stdin is not None and worker.process.stdout is not None
    if now:  # its group: whatever a reader started dies with it
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.kill()
    with contextlib.suppress(OSError):  # it is gone, and so is the pipe
        worker.process.stdin.close()
    try:
        worker.process.wait(timeout=None if now else 10)
    except subprocess.TimeoutExpired:
        worker.process.kill()
        worker.process.wait()
    worker.process.stdout.close()


def _send(worker: _Worker[Any], message: object) -> None:
    assert worker.process.stdin is not None
    with contextlib.suppress(BrokenPipeError):  # it died: its stdout says so at the next select
        _write(worker.process.stdin, message)


def _write(stream: IO[bytes], message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(len(data).to_bytes(_LENGTH, "little") + data)
    while view:  # an unbuffered pipe may take part of it at a time
        view = view[stream.write(view) or 0 :]
    stream.flush()


def _receive(stream: IO[bytes] | None) -> Any | None:
    """The next message on `stream`, or None at its end (a message cut short too: the writer died)."""
    assert stream is not None
    header = _exactly(stream, _LENGTH)
    if header is None:
        return None
    data = _exactly(stream, int.from_bytes(header, "little"))
    return None if data is None else pickle.loads(data)


def _exactly(stream: IO[bytes], size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _serve(kernel: int) -> None:
    """A worker: run the jobs that come on stdin, each reply on stdout, until stdin ends."""
    try:
        watched = os.pidfd_open(kernel)
    except ProcessLookupError:
        return
    except OSError:  # no pidfd (Linux before 5.3): it exits when its input ends, after the file it reads
        pass
    else:
        threading.Thread(target=_exit_when_gone, args=(watched,), name="memex-docs-watch", daemon=True).start()
    global _replies
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the kernel's interrupts are for the kernel
    replies = _replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever a reader prints goes to stderr, never between replies
    requests = sys.stdin.buffer
    sys.path[:] = _receive(requests) or sys.path
    while (request := _receive(requests)) is not None:
        work, job = request
        try:
            reply = ("done", work(job))
        except Exception as exc:
            reply = ("error", exc)
        _write(replies, reply)


def _exit_when_gone(pidfd: int) -> None:
    select.select([pidfd], [], [])  # readable once the kernel has exited
    os._exit(1)


if __name__ == "__main__":
    # Served by the module under its own name, the one the work imports to call `progress()`.
    from memex_mcp.runtime.documents.workers import _serve as serve

    serve(int(sys.argv[1]))
    os._exit(0)  # every reply is flushed: the interpreter's teardown would only keep the kernel waiting
