"""Jobs for worker processes in tests/test_documents_build.py, in a module of their own: a worker
imports the module of the function it runs, and this one imports nothing."""

from __future__ import annotations

import os


def shout(job: str) -> str:
    """The job in capitals; a job named `poison` kills its process, as a reader that crashes on a
    file does."""
    if job == "poison":
        os._exit(3)
    return job.upper()


def crashed(job: str, why: str) -> str:
    return f"{job}: {why}"
