"""The memex harness: the model's only tools are memex-mcp's own four (`execute_code`,
`list_scope`, `spawn_agent`, `submit`), reached through the MCP SDK's client over stdio.

Each task-run starts its own `memex-mcp` process on the suite's data dir with a throwaway state
dir, so the eval measures the real server. The document index's cache is shared by the task-runs
(a link from each state dir), so a large corpus is indexed once. Sub-agents use the eval's model
when it is a real provider; their tokens are read from the kernel at the end of the task-run.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult, TextContent

from memex_mcp.eval.harness import Outcome, answer_text
from memex_mcp.eval.models import ToolSpec

#: Sums the usage of every sub-agent the kernel's variables reach (handles and their children).
_AGENT_USAGE = """
def __memex_eval_usage():
    import json
    from memex_mcp.runtime.agents.handle import AgentHandle
    seen, stack = set(), [v for v in list(globals().values()) if isinstance(v, AgentHandle)]
    calls = tokens_in = tokens_out = 0
    while stack:
        h = stack.pop()
        if id(h) in seen:
            continue
        seen.add(id(h))
        u = h.usage
        calls, tokens_in, tokens_out = calls + u.model_calls, tokens_in + u.input_tokens, tokens_out + u.output_tokens
        stack.extend(h.children)
    return json.dumps([calls, tokens_in, tokens_out])
print(__memex_eval_usage())
"""


class MemexHarness:
    name: Literal["memex"] = "memex"

    def __init__(self, client: Client, tools: list[ToolSpec], instructions: str) -> None:
        self._client = client
        self.tools = tools
        self.instructions = instructions
        self.spawned = False

    async def call(self, name: str, arguments: dict[str, Any]) -> Outcome:
        if name not in {t.name for t in self.tools}:
            return Outcome(f"No tool {name!r}; the tools are {', '.join(t.name for t in self.tools)}.", is_error=True)
        self.spawned |= name == "spawn_agent"
        result = await self._client.call_tool(name, arguments)
        text = _text(result)
        if name == "submit" and not result.is_error:
            content = result.structured_content or {}
            if content.get("truncated") is True:  # an answer over a megabyte: its preview is what can be scored
                return Outcome(text, answer=str(content.get("preview", "")))
            value = content["result"] if set(content) == {"result"} else content
            return Outcome(text, answer=answer_text(value))
        return Outcome(text, is_error=bool(result.is_error))

    async def setup(self, code: str) -> str:
        """Run `code` in the kernel before the model's first turn (not a turn: the model does not
        see it); returns its output. Raises RuntimeError if it failed."""
        result = await self._client.call_tool("execute_code", {"code": code})
        if result.is_error:
            raise RuntimeError(f"the setup cell failed: {_text(result)}")
        return _text(result)

    async def agent_usage(self) -> tuple[int, int]:
        """Input and output tokens of the sub-agents this task-run started."""
        if not self.spawned:
            return 0, 0
        result = await self._client.call_tool("execute_code", {"code": _AGENT_USAGE})
        with contextlib.suppress(ValueError, IndexError):
            _, tokens_in, tokens_out = json.loads(_text(result).strip().splitlines()[-1])
            return int(tokens_in), int(tokens_out)
        return 0, 0


def _text(result: CallToolResult) -> str:
    parts = [c.text if isinstance(c, TextContent) else f"[{c.type} content]" for c in result.content]
    return "\n".join(parts)


def _spec(tool: Any) -> ToolSpec:
    schema = dict(tool.input_schema)
    # Over stdio there is one scratchpad: a handle parameter would only confuse the comparison.
    properties = {k: v for k, v in (schema.get("properties") or {}).items() if k != "scratchpad"}
    schema["properties"] = properties
    return ToolSpec(tool.name, tool.description or "", schema)


@contextlib.asynccontextmanager
async def memex_harness(
    data_dir: Path, state_dir: Path, cache_dir: Path, agent_model: str | None, log: Path
) -> AsyncIterator[MemexHarness]:
    """A `memex-mcp` server over stdio on `data_dir`, keeping its session in `state_dir`; its log
    (stderr) goes to the file `log`."""
    state_dir.mkdir(parents=True, exist_ok=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    if not (state_dir / "cache").exists():
        (state_dir / "cache").symlink_to(cache_dir.resolve(), target_is_directory=True)
    args = ["-m", "memex_mcp", "--data-dir", str(data_dir), "--state-dir", str(state_dir)]
    if agent_model is not None:
        args += ["--agent-model", agent_model]
    env = dict(os.environ)
    env.pop("MEMEX_SESSION", None)  # a throwaway scratchpad, whatever the user's environment names
    server = StdioServerParameters(command=sys.executable, args=args, env=env, cwd=str(state_dir))
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as errlog:
        async with Client(stdio_client(server, errlog=errlog)) as client:
            listed = await client.list_tools()
            tools = [_spec(t) for t in listed.tools]
            yield MemexHarness(client, tools, client.instructions or "")
