"""Extraction in worker processes, safe in the kernel: started from a fork server (the kernel has
threads, and forking a threaded process can deadlock the child), confined as the kernel is (they
are its descendants), and gone with it. A worker that dies on a file (a PDF that crashes its
reader) costs that file only: the files it may have held are read again one at a time, each in a
process of its own, and the one that kills it again is reported with the reason.
"""

from __future__ import annotations

import multiprocessing
import os
import select
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")

#: Files queued per worker, so a worker never waits for the next one while few are lost to a crash.
QUEUED_PER_WORKER = 2
#: Why a file was skipped when reading it killed the process.
CRASHED = "reading it crashed the reader (the process died): the file is probably corrupt"


def extract_all(
    jobs: list[Job],
    work: Callable[[Job], Result],
    crashed: Callable[[Job, str], Result],
    workers: int,
    preload: Sequence[str] = (),
) -> Iterator[tuple[Job, Result]]:
    """(job, `work(job)`) for every job, in the order they finish: in this process when `workers`
    is 1, else in that many processes. A job whose process died gives `crashed(job, why)`. `work`
    must be a module-level function and must not raise for a bad input. The fork server imports
    the `preload` modules once, so that a worker starts with them (else each imports them anew:
    about a second on a busy machine)."""
    if workers <= 1:
        for job in jobs:
            yield job, work(job)
        return
    # Read when the kernel's fork server starts (once); "__main__" is multiprocessing's own default.
    multiprocessing.get_context("forkserver").set_forkserver_preload(["__main__", *preload])
    queue = deque(jobs)
    while queue:
        suspects = yield from _pooled(queue, work, workers)
        for job in suspects:
            yield job, _alone(job, work, crashed)


def _pooled(
    queue: deque[Job], work: Callable[[Job], Result], workers: int
) -> Generator[tuple[Job, Result], None, list[Job]]:
    """Run `queue`'s jobs in a pool until it is empty (then: []), or until a worker dies: then the
    jobs that were in the pool, any of which may have killed it."""
    pool = _pool(workers)
    running: dict[Future[Result], Job] = {}
    try:
        while queue or running:
            while queue and len(running) < QUEUED_PER_WORKER * workers:
                job = queue.popleft()
                try:
                    running[pool.submit(work, job)] = job
                except BrokenProcessPool:  # a worker died since the last wait
                    queue.appendleft(job)
                    return list(running.values())
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                try:
                    result = future.result()
                except BrokenProcessPool:
                    return list(running.values())
                yield running.pop(future), result
        return []
    finally:
        # Interrupted, or done: workers finish the file they hold and exit; nothing waits for them.
        pool.shutdown(wait=False, cancel_futures=True)


def _alone(job: Job, work: Callable[[Job], Result], crashed: Callable[[Job, str], Result]) -> Result:
    pool = _pool(1)
    try:
        return pool.submit(work, job).result()
    except BrokenProcessPool:
        return crashed(job, CRASHED)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("forkserver"), initializer=_die_with, initargs=(os.getpid(),)
    )


def _die_with(kernel: int) -> None:
    """In a worker: exit as soon as the kernel does. Its parent is the fork server, which would
    outlive the kernel as long as any worker lives (each holds the pipe the server watches)."""
    try:
        fd = os.pidfd_open(kernel)
    except ProcessLookupError:
        os._exit(1)
    threading.Thread(target=_exit_when_gone, args=(fd,), name="memex-docs-watch", daemon=True).start()


def _exit_when_gone(pidfd: int) -> None:
    select.select([pidfd], [], [])  # readable when the process has exited
    os._exit(1)
