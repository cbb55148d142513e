"""Jobs for worker processes in the document build tests, in a module of their own: a worker
imports the module of the function it runs, and this one imports little."""

from __future__ import annotations

import os
import time

from memex_mcp.runtime.documents.workers import progress


def shout(job: str) -> str:
    """The job in capitals; a job named `poison` kills its process, as a reader that crashes on a
    file does, and one named `hang` never ends, as a reader in an endless loop."""
    if job == "poison":
        os._exit(3)
    while job == "hang":
        time.sleep(3600)
    return job.upper()


def plod(job: str) -> str:
    """The job in capitals after `job`'s length in tenths of a second, saying it progresses every tenth."""
    for _ in range(len(job)):
        time.sleep(0.1)
        progress()
    return job.upper()


def crashed(job: str, why: str) -> str:
    return f"{job}: {why}"
