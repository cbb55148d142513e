"""Kernel-side helpers the agent tests define through execute_code, and a checked `cell`."""

from __future__ import annotations

from conftest import run, text_of
from mcp import Client

#: `script(block, …)`: a scripted model that answers turn i of every agent with the i-th block
#: as a ```python fence (None: a reply without code); the last block repeats.
SETUP = r"""
import threading, time
from memex_mcp.runtime.models.scripted import ScriptedModel

def script(*blocks, latency=0.0):
    texts = ["I will think first." if b is None else "Here goes.\n```python\n" + b + "\n```" for b in blocks]
    return ScriptedModel.replies(texts, latency=latency)

def agent_thread_alive(name):
    return any(t.name == "memex-agent-" + name for t in threading.enumerate())

def wait_until(check, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("the condition did not hold in time")
        time.sleep(0.01)
"""


async def cell(client: Client, code: str) -> str:
    """Run `code`, which must succeed; its text."""
    result = await run(client, code)
    assert not result.is_error, text_of(result)
    return text_of(result)
