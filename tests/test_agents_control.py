"""Sub-agents running together: timeout, cancellation, nesting, parallelism, progress."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from agent_helpers import SETUP, cell
from conftest import settings
from mcp import Client

from memex_mcp.server import build_server

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
async def agents(client: Client) -> AsyncIterator[Client]:
    await cell(client, SETUP + "\nfrom memex_mcp.runtime.agents import AgentFailed, AgentDepthError")
    yield client


async def test_an_agent_that_runs_out_of_time_fails_and_its_code_stops(agents: Client) -> None:
    code = r"""
h = spawn_agent("Spin", timeout=0.5, model=script("while True:\n    time.sleep(0.01)"))
try:
    h.result(timeout=20)
except AgentFailed as exc:
    print(exc)
wait_until(lambda: not agent_thread_alive(h.name))
print(h.status)
"""
    text = await cell(agents, code)
    assert re.fullmatch(r"agent_\d+ failed: it ran out of time \(0\.5 s\)\nfailed", text)


async def test_a_cancelled_agent_stops_running_its_code(agents: Client) -> None:
    code = r"""
ticks = []
h = spawn_agent("Tick", model=script(
    "while True:\n    try:\n        ticks.append(1)\n        time.sleep(0.01)\n    except Exception:\n        pass"))
wait_until(lambda: len(ticks) > 3)
print(h.cancel(), h.cancel(), h.status)
wait_until(lambda: not agent_thread_alive(h.name))
before = len(ticks)
try:
    h.result()
except AgentFailed as exc:
    print(exc)
print(len(ticks) == before)
"""
    text = await cell(agents, code)
    assert re.fullmatch(r"True False cancelled\nagent_\d+ cancelled: it was cancelled\nTrue", text)


async def test_agents_start_agents_down_to_the_depth_limit(agents: Client) -> None:
    code = r"""
def nest(messages, info):
    depth = info["depth"]
    if info["turn"] == 1:
        if depth < 3:
            code = "child = spawn_agent('Go deeper', model=nested)\nsubmit([%d] + child.result(timeout=20))" % depth
            return "```python\n" + code + "\n```"
        return "```python\nspawn_agent('Too deep', model=nested)\n```"
    return "```python\nsubmit([3, history[-1].output.strip().splitlines()[-1]])\n```"
nested = ScriptedModel(nest)
top = spawn_agent("Nest", model=nested)
print(top.result(timeout=20))
print(len(top.children), top.children[0].depth, top.children[0].children[0].depth)
"""
    text = await cell(agents, code)
    first, second = text.splitlines()
    assert first.startswith("[1, 2, 3, 'memex_mcp.runtime.agents.spawn.AgentDepthError: Agents nest at most 3 deep")
    assert second == "1 2 3"


async def test_cancelling_an_agent_cancels_the_agents_it_started(agents: Client) -> None:
    code = r"""
started = []
def parent_or_child(messages, info):
    if info["depth"] == 1:
        return "```python\nkid = spawn_agent('Wait', model=waiter)\nstarted.append(kid)\nkid.result()\n```"
    return "```python\nwhile True:\n    time.sleep(0.01)\n```"
waiter = ScriptedModel(parent_or_child)
boss = spawn_agent("Delegate", model=waiter)
wait_until(lambda: started)
boss.cancel()
wait_until(lambda: started[0].done())
print(boss.status, started[0].status)
"""
    assert await cell(agents, code) == "cancelled cancelled"


async def test_many_agents_run_at_the_same_time(agents: Client) -> None:
    # An order-of-magnitude check: 16 agents that each wait 2 × 0.2 s on their model take far less
    # than 16 agents one after the other would.
    code = r"""
model = script("x = 1", "submit(x)", latency=0.2)
started = time.perf_counter()
spawn_agent("One", model=model).result(timeout=30)
one = time.perf_counter() - started
started = time.perf_counter()
results = gather(*[spawn_agent("Many", model=model) for _ in range(16)], timeout=60)
many = time.perf_counter() - started
print(results == [1] * 16, many < 16 * one / 2)
"""
    assert await cell(agents, code) == "True True"


async def test_a_parent_waiting_in_gather_does_not_stop_agents_running_code(agents: Client) -> None:
    code = r'''
import sys
probe = r"""
def main_is_in_gather():
    frame = sys._current_frames()[threading.main_thread().ident]
    names = []
    while frame is not None:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    return "gather" in names
wait_until(main_is_in_gather)
submit(True)
"""
print(gather(*[spawn_agent("Probe", model=script(probe)) for _ in range(4)], timeout=30))
'''
    assert await cell(agents, code) == "[True, True, True, True]"


async def test_gather_reports_progress_while_it_waits(agents: Client) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    code = "print(gather(*[spawn_agent('Slow', model=script('x = 1', 'submit(2)', latency=0.6)) for _ in range(3)]))"
    with anyio.fail_after(60):
        result = await agents.call_tool("execute_code", {"code": code}, progress_callback=on_progress)
    assert not result.is_error
    messages = [m for _, _, m in seen]
    assert messages and all(re.fullmatch(r"\d/3 agents done", m or "") for m in messages)
    assert messages[0] == "0/3 agents done"


async def test_gather_names_the_agents_that_failed(agents: Client) -> None:
    code = r"""
good = spawn_agent("Good", name="good", model=script("submit(1)"))
bad = spawn_agent("Bad", name="bad", max_turns=1, model=script("print('no')"))
try:
    gather(good, bad, timeout=20)
except AgentFailed as exc:
    print(exc)
    print([h.name for h in exc.failed])
"""
    text = await cell(agents, code)
    assert text == "1 of 2 agents did not finish: bad failed: it did not submit an answer within max_turns=1\n['bad']"


async def test_waiting_too_long_for_a_result_says_the_agent_keeps_running(agents: Client) -> None:
    code = r"""
slow = spawn_agent("Slow", name="slowpoke", model=script("while True:\n    time.sleep(0.01)"))
try:
    slow.result(timeout=0.2)
except TimeoutError as exc:
    print(exc)
print(slow.status)
slow.cancel()
"""
    text = await cell(agents, code)
    assert text.startswith("slowpoke still running after 0.2 s; they keep running.")
    assert text.endswith("running\nTrue")


# A model that never answers: it waits in Python, as the sampling model waits for the client.
THINKS_FOREVER = r"""
from memex_mcp.runtime import config
from memex_mcp.runtime.agents import set_concurrency
thinking = threading.Event()
def think_forever(messages, info):
    thinking.set()
    while True:
        time.sleep(0.01)
"""


async def test_an_agent_cancelled_while_its_model_thinks_stops_and_frees_its_model_call(agents: Client) -> None:
    code = (
        THINKS_FOREVER
        + r"""
set_concurrency(1)  # one model call at a time: the next agent runs only if the first let go of it
try:
    stuck = spawn_agent("Think", model=ScriptedModel(think_forever))
    thinking.wait(10)
    print(stuck.cancel(), stuck.status)
    wait_until(lambda: not agent_thread_alive(stuck.name))
    print(spawn_agent("Next", model=script("submit('next ran')")).result(timeout=20))
finally:
    set_concurrency(config.load().agent_concurrency)
"""
    )
    assert await cell(agents, code) == "True cancelled\nnext ran"


async def test_an_agent_whose_model_thinks_past_its_timeout_fails_and_stops_waiting(agents: Client) -> None:
    code = (
        THINKS_FOREVER
        + r"""
late = spawn_agent("Think", timeout=0.5, model=ScriptedModel(think_forever))
wait_until(late.done)
wait_until(lambda: not agent_thread_alive(late.name))
print(late.status, late.reason, late.usage.model_calls)
"""
    )
    assert await cell(agents, code) == "failed it ran out of time (0.5 s) 0"


async def test_a_finished_agent_keeps_no_parent_object_the_parent_let_go(agents: Client) -> None:
    code = r"""
import gc, weakref
class Big:
    pass
big = Big()
gone = weakref.ref(big)
h = spawn_agent("Answer", model=script("submit(1)"))
print(h.result(timeout=20))
del big
wait_until(lambda: gc.collect() is not None and gone() is None)
print(h.status, len(h.transcript))
"""
    assert await cell(agents, code) == "1\ndone 1"


async def test_agents_still_running_when_the_kernel_shuts_down_are_stopped_and_unwind(
    anyio_backend: str, tmp_path: Path
) -> None:
    marker = tmp_path / "unwound"
    code = (
        SETUP
        + r"""
busy = threading.Event()
h = spawn_agent("Work forever", model=script(
    "busy.set()\ntry:\n    while True:\n        time.sleep(0.01)\nfinally:\n    open(MARKER, 'w').close()"))
busy.wait(10)
print(h.status)
""".replace("MARKER", repr(str(marker)))
    )
    with anyio.fail_after(60):
        async with Client(build_server(settings(timeout=30)), raise_exceptions=True) as client:
            assert await cell(client, code) == "running"
    assert marker.exists()


async def test_gather_with_a_timeout_raises_timeout_error_and_the_agents_keep_running(agents: Client) -> None:
    code = r"""
quick = spawn_agent("Quick", model=script("submit(5)"))
lingering = spawn_agent("Linger", name="lingering", model=script("while True:\n    time.sleep(0.01)"))
try:
    gather(quick, lingering, timeout=0.3)
except TimeoutError as exc:
    print(exc)
print(lingering.status, lingering.cancel(), lingering.status)
"""
    text = await cell(agents, code)
    assert text.startswith("lingering still running after 0.3 s; they keep running.")
    assert text.endswith("running True cancelled")
