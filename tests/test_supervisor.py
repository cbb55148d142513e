"""The kernel's supervision seen from the scratchpad: a kernel that dies while no call runs is
replaced at once, and the next call says so."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from conftest import kill, settings

from memex_mcp.server.outcome import Finished, StillRunning
from memex_mcp.server.scratchpad import Scratchpad

pytestmark = pytest.mark.anyio

#: Waits until the test lets it end, so that it certainly outlives its call's reply.
WAIT_FOR = "import pathlib, time\nwhile not pathlib.Path({path!r}).exists():\n    time.sleep(0.02)\nprint('done')"


async def test_a_kernel_killed_after_an_execution_that_outlived_its_reply_has_ended_is_replaced_before_the_next_call(
    anyio_backend: str, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    async with Scratchpad(settings(reply_within=0.5, timeout=30), tmp_path) as pad:
        first = await pad.execute(WAIT_FOR.format(path=str(release)))
        assert isinstance(first.outcome, StillRunning)
        release.touch()
        with anyio.fail_after(30):
            while pad.running_note() is not None:  # nothing to await: its end is taken by the next call
                await anyio.sleep(0.05)
            pid = pad.kernel_pid()
            assert pid is not None
            await kill(pid)
            # Replaced by the watcher, with no call to ask for it.
            while pad.kernel_pid() in (None, pid):
                await anyio.sleep(0.05)
        assert pad.replacements == 1
        result = await pad.execute("'alive'")
    assert result.earlier is not None and isinstance(result.earlier.outcome, Finished)
    assert str(result.earlier.output.text).strip() == "done"
    assert len(result.notes) == 1
    assert result.notes[0].startswith(
        "The kernel died after the previous call (killed by SIGKILL) and was replaced by a new one; "
    )
    assert isinstance(result.outcome, Finished) and not result.outcome.failed
    assert "'alive'" in str(result.output.text)
