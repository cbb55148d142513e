"""The kernel's runtime: one object that owns the kernel's parts and stops them in order at exit."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import anyio
import duckdb
import pytest
from agent_helpers import SETUP, cell
from conftest import settings
from mcp import Client

from memex_mcp.protocol import RuntimeConfig
from memex_mcp.runtime.agents import bind
from memex_mcp.runtime.data.loader import Loader
from memex_mcp.runtime.models.scripted import ScriptedModel
from memex_mcp.runtime.runtime import Runtime
from memex_mcp.server import build_server

# The agent opens the database with its first query, then works until it is stopped, and unwinds by
# querying it once more (as an agent that saves its partial results in its `finally` would). The
# cell never names the database itself: a cell that does waits for it to be opened first.
UNWINDS_WITH_A_QUERY = r"""
queried = threading.Event()
opened_before_spawn = "duckdb" in sys.modules
h = spawn_agent("Work until stopped", model=script(
    "sql('SELECT 1').fetchall()\n"
    "queried.set()\n"
    "try:\n"
    "    while True:\n"
    "        time.sleep(0.01)\n"
    "finally:\n"
    "    try:\n"
    "        open(LOG, 'a').write(f'unwound with {sql(\"SELECT 42\").fetchall()}\\n')\n"
    "    except Exception as exc:\n"
    "        open(LOG, 'a').write(f'{type(exc).__name__}: {exc}\\n')\n"))
print(opened_before_spawn, queried.wait(20), h.status)
"""


@pytest.mark.anyio
async def test_an_agent_spawned_before_the_database_opens_is_stopped_before_the_database_closes(
    anyio_backend: str, tmp_path: Path
) -> None:
    log = tmp_path / "agent.log"
    code = "import sys\n" + SETUP + UNWINDS_WITH_A_QUERY.replace("LOG", repr(str(log)))
    with anyio.fail_after(60):
        async with Client(build_server(settings(timeout=30)), raise_exceptions=True) as client:
            assert await cell(client, code) == "False True running"
    assert log.read_text() == "unwound with [(42,)]\n"


# In-process: the runtime needs no kernel to own an agent and a database.
UNWINDS_ON_ITS_CURSOR = """```python
cursor = connection.cursor()
working.set()
try:
    while True:
        time.sleep(0.01)
finally:
    unwound.append(cursor.execute('SELECT 42').fetchall())
```"""


def test_closing_the_runtime_stops_its_agents_then_closes_the_database_once(tmp_path: Path) -> None:
    config = RuntimeConfig(session_dir=str(tmp_path), cache_dir=str(tmp_path))
    runtime = Runtime(config)
    runtime.loader = Loader(config)
    runtime.loader.start()
    working = threading.Event()
    unwound: list[Any] = []
    namespace: dict[str, Any] = {"connection": runtime.loader.wait(), "working": working, "unwound": unwound}
    exec("import time", namespace)
    handle = bind(runtime.agents, namespace)["spawn_agent"](
        "Work until stopped", model=ScriptedModel.replies([UNWINDS_ON_ITS_CURSOR])
    )
    assert working.wait(10)
    runtime.close()
    runtime.close()
    assert (handle.status, unwound) == ("cancelled", [[(42,)]])
    assert runtime.closed == ["agents", "channel", "database"]
    with pytest.raises(duckdb.ConnectionException):
        namespace["connection"].execute("SELECT 1")
