"""Progress while a cell waits, and the server's throttle of it, on a fake clock: no test here sleeps."""

from __future__ import annotations

import threading

import pytest

from memex_mcp.clock import SYSTEM, FakeClock
from memex_mcp.protocol import PROGRESS_MIME, Progress
from memex_mcp.runtime.progress import HEARTBEAT, Report, State, wait_with_progress
from memex_mcp.server.output import PROGRESS_EVERY, CellOutput, add_display

Reported = list[tuple[float, str]]


def recorder(clock: FakeClock, reported: Reported, stop_after: int = 0, done: threading.Event | None = None) -> Report:
    """A progress reporter noting (fake time, message); it sets `done` at the `stop_after`th report."""

    def report(progress: float, total: float | None, message: str) -> None:
        reported.append((clock.monotonic(), message))
        if done is not None and len(reported) == stop_after:
            done.set()

    return report


def test_a_fake_clock_moves_only_when_told_and_sets_what_is_due_on_the_way() -> None:
    clock = FakeClock(10.0)
    early, late = threading.Event(), threading.Event()
    clock.set_at(11.0, early)
    clock.set_at(13.0, late)
    assert clock.monotonic() == 10.0
    clock.advance(1.5)
    assert clock.monotonic() == 11.5 and early.is_set() and not late.is_set()
    with pytest.raises(ValueError, match="never goes back"):
        clock.advance(-1)


def test_a_wait_on_a_fake_clock_ends_when_its_event_is_due_or_its_timeout_has_passed() -> None:
    clock = FakeClock()
    event = threading.Event()
    clock.set_at(3.0, event)
    assert clock.wait(event, 1.0) is False and clock.monotonic() == 1.0
    assert clock.wait(event, 10.0) is True and clock.monotonic() == 3.0
    assert clock.wait(event, 10.0) is True and clock.monotonic() == 3.0


def test_the_system_clock_waits_on_the_event_itself() -> None:
    event = threading.Event()
    event.set()
    assert SYSTEM.wait(event, 60.0) is True
    assert SYSTEM.monotonic() <= SYSTEM.monotonic()


def test_a_wait_reports_each_change_at_once_and_an_unchanged_state_every_heartbeat() -> None:
    clock, done, reported = FakeClock(), threading.Event(), []

    def state() -> State:
        return (1, 2, "half") if clock.monotonic() >= 0.5 else (0, 2, "starting")

    report = recorder(clock, reported, stop_after=3, done=done)
    assert wait_with_progress([done], state, clock=clock, report=report)
    assert reported == [(0.0, "starting"), (0.5, "half"), (0.5 + HEARTBEAT, "half")]


def test_a_wait_shorter_than_its_quiet_time_reports_nothing() -> None:
    clock, done, reported = FakeClock(), threading.Event(), []
    clock.set_at(0.4, done)
    assert wait_with_progress(
        [done], lambda: (0, None, "loading"), quiet=0.5, clock=clock, report=recorder(clock, reported)
    )
    assert reported == []
    assert clock.monotonic() == 0.4


def test_a_wait_that_reported_reports_its_final_state_when_it_ends() -> None:
    clock, first, second, reported = FakeClock(), threading.Event(), threading.Event(), []
    clock.set_at(0.6, first)
    clock.set_at(1.1, second)

    def state() -> State:
        finished = first.is_set() + second.is_set()
        return finished, 2, f"{finished}/2 done"

    assert wait_with_progress([first, second], state, quiet=0.5, clock=clock, report=recorder(clock, reported))
    assert reported == [(0.5, "0/2 done"), (0.6, "1/2 done"), (1.1, "2/2 done")]


def test_a_wait_past_its_timeout_returns_false_at_the_timeout() -> None:
    clock, never, reported = FakeClock(), threading.Event(), []
    report = recorder(clock, reported)
    assert not wait_with_progress([never], lambda: (0, None, "waiting"), timeout=2.5, clock=clock, report=report)
    assert clock.monotonic() == 2.5
    assert [when for when, _ in reported] == [0.0, HEARTBEAT, 2 * HEARTBEAT]


def test_outside_a_kernel_a_wait_reports_nothing_by_default() -> None:
    clock, done = FakeClock(), threading.Event()
    clock.set_at(5.0, done)
    looked: list[float] = []

    def state() -> State:
        looked.append(clock.monotonic())
        return 0, None, "waiting"

    assert wait_with_progress([done], state, clock=clock)
    assert looked == []


# --- the server's throttle ----------------------------------------------------------------------


def throttled(clock: FakeClock) -> tuple[CellOutput, list[Progress]]:
    sent: list[Progress] = []

    async def on_progress(progress: Progress) -> None:
        sent.append(progress)

    return CellOutput(on_progress=on_progress, clock=clock), sent


@pytest.mark.anyio
async def test_the_first_output_is_a_notification_at_once_and_the_next_after_the_throttle(anyio_backend: str) -> None:
    clock = FakeClock(100.0)
    out, sent = throttled(clock)
    for step in range(4):
        out.text.append(f"step {step}\n")
        await out.progressed()
        clock.advance(PROGRESS_EVERY / 2)
    assert [p.message for p in sent] == [
        "7 characters of output so far; last line: step 0",
        "21 characters of output so far; last line: step 2",
    ]
    assert [p.progress for p in sent] == [7, 21]


@pytest.mark.anyio
async def test_runtime_progress_that_starts_again_from_zero_keeps_growing_as_the_client_sees_it(
    anyio_backend: str,
) -> None:
    clock = FakeClock()
    out, sent = throttled(clock)
    for phase in ("index", "agents"):
        for i in (1, 2):
            add_display(out, {PROGRESS_MIME: Progress(progress=i, total=2, message=f"{phase} {i} of 2").model_dump()})
            await out.progressed()
            clock.advance(PROGRESS_EVERY)
    assert [(p.progress, p.total, p.message) for p in sent] == [
        (1, 2, "index 1 of 2"),
        (2, 2, "index 2 of 2"),
        (3, 4, "agents 1 of 2"),
        (4, 4, "agents 2 of 2"),
    ]


@pytest.mark.anyio
async def test_runtime_progress_within_the_throttle_is_held_back_and_the_latest_goes_next(anyio_backend: str) -> None:
    clock = FakeClock()
    out, sent = throttled(clock)
    for message in ("a", "b", "c"):
        add_display(out, {PROGRESS_MIME: Progress(progress=0, message=message).model_dump()})
        await out.progressed()
    clock.advance(PROGRESS_EVERY)
    out.text.append("x\n")
    await out.progressed()
    assert [p.message for p in sent] == ["a", "c"]
    assert sent[0].progress < sent[1].progress  # MCP wants every notification's value above the last
