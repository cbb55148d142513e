"""`tools`: the tools of downstream MCP servers (`--mcp-config`) as Python functions.

`tools.<server>.<tool>(**arguments)` asks the server over the kernel's channel, from any thread,
also while a cell runs, and returns Python objects: structured content as dicts and lists, JSON
text (an object or an array) parsed, other text as `str`, images, audio and binary resources as
bytes; several content blocks as a list of these. A tool error raises `tools.ToolError` (a
`DownstreamToolError`) with the tool's error text. The servers' tool lists are fetched at the
first use of `tools`, not before.

Names that are not Python identifiers are made so (`get-weather` → `get_weather`);
`repr(tools)` shows each server's tools with the names the server gives them.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import inspect
import json
import keyword
import re
import threading
import types
from collections.abc import Callable
from typing import Any

from memex_mcp.protocol import DownstreamListing, DownstreamServer, DownstreamTool, ToolCallParams, ToolCallResult
from memex_mcp.protocol import ToolContent as Content
from memex_mcp.runtime import channel

__all__ = ["DownstreamToolError", "Tools"]

#: Seconds `tools` waits for the servers to start and list their tools.
_LIST_TIMEOUT = 120.0
_HOW = (
    "Start memex-mcp with --mcp-config FILE (the mcpServers JSON that Claude Desktop uses) to call "
    "the tools of other MCP servers here as tools.<server>.<tool>(**arguments)."
)


class DownstreamToolError(Exception):
    """A downstream tool failed (its error text is the message), or its server cannot be reached."""

    def __init__(self, message: str, server: str = "", tool: str = "") -> None:
        super().__init__(message)
        self.server = server
        self.tool = tool


class Tools:
    """The downstream MCP servers' tools: `tools.<server>.<tool>(**arguments)`.

    `tools` shows every server and its tools; `help(tools.<server>)` shows its tools' signatures
    and descriptions; `tools.ToolError` is the exception a failing tool raises.
    """

    #: The name code catches it by (`except tools.ToolError`), whatever the class is called here.
    ToolError = DownstreamToolError

    def __init__(self, line: Callable[[], channel.Channel] = channel.default) -> None:
        self._line = line
        self._lock = threading.Lock()
        self._servers: dict[str, Server] | None = None
        self._listing = DownstreamListing()
        self._unreachable: str | None = None

    def _load(self) -> dict[str, Server]:
        with self._lock:
            if self._servers is None:
                try:
                    raw = self._line().call("tools.list", timeout=_LIST_TIMEOUT)
                    self._listing = DownstreamListing.model_validate(raw)
                except channel.ChannelError as exc:
                    # Not kept: the next use asks again.
                    self._unreachable = f"The downstream MCP servers cannot be listed: {exc}"
                    return {}
                self._unreachable = None
                self._servers = {}
                for server in self._listing.servers:
                    python_name = _identifier(server.name, set(self._servers) | set(dir(Tools)))
                    self._servers[python_name] = Server(python_name, server, self._call)
            return self._servers

    def _call(self, server: str, tool: str, arguments: dict[str, Any]) -> ToolCallResult:
        params = ToolCallParams(server=server, tool=tool, arguments=arguments)
        try:
            raw = self._line().call("tools.call", params.model_dump(mode="json"))
        except channel.ChannelError as exc:
            raise DownstreamToolError(str(exc), server, tool) from None
        return ToolCallResult.model_validate(raw)

    def __getattr__(self, name: str) -> Server:
        if name.startswith("_"):  # IPython's and pickle's probes must not list the servers
            raise AttributeError(name)
        servers = self._load()
        if name in servers:
            return servers[name]
        raise AttributeError(f"There is no downstream MCP server {name!r}. {self._available()}")

    def __dir__(self) -> list[str]:
        return sorted(self._load())

    def __reduce__(self) -> str:
        # Pickled as this module's `tools`: a checkpointed function that uses it gets the new kernel's.
        return "tools"

    def _available(self) -> str:
        if self._unreachable is not None:
            return self._unreachable
        if self._listing.config is None:
            return _HOW
        return f"Servers: {', '.join(self._load()) or 'none'}."

    def _refresh(self) -> None:
        """Bring the servers' states up to date (one may have died since the first listing)."""
        with contextlib.suppress(channel.ChannelError):
            fresh = DownstreamListing.model_validate(self._line().call("tools.list", timeout=_LIST_TIMEOUT))
            states = {server.name: server for server in fresh.servers}
            for server in (self._servers or {}).values():
                server._server = states.get(server._server.name, server._server)

    def __repr__(self) -> str:
        loaded = self._servers is not None
        servers = self._load()
        if loaded:
            self._refresh()
        if not servers:
            if self._unreachable is not None:
                return f"tools: {self._unreachable}"
            if self._listing.config is None:
                return f"tools: no downstream MCP servers. {_HOW}"
            return f"tools: {self._listing.config} lists no MCP servers."
        lines = [
            f"tools: {len(servers)} downstream MCP server(s) from {self._listing.config}; call "
            "tools.<server>.<tool>(**arguments), help(tools.<server>) for arguments"
        ]
        lines += [_summary(server) for server in servers.values()]
        return "\n".join(lines)


class Server(types.ModuleType):
    """One downstream server's tools, as functions (a module, so `help()` lists them)."""

    def __init__(
        self, python_name: str, server: DownstreamServer, call: Callable[[str, str, dict[str, Any]], ToolCallResult]
    ) -> None:
        super().__init__(f"tools.{python_name}", _server_doc(server))
        self._server = server
        names: dict[str, DownstreamTool] = {}
        for tool in server.tools:
            names[_identifier(tool.name, set(names) | set(dir(types.ModuleType)))] = tool
        self._names = names
        self.__all__ = list(names)
        for python_name_, tool in names.items():
            setattr(self, python_name_, _function(self.__name__, python_name_, server.name, tool, call))

    def __reduce__(self) -> tuple[Callable[[str], Server], tuple[str]]:
        # By name: a checkpointed variable holding a server gets the new kernel's on restore.
        return _server_named, (self.__name__.removeprefix("tools."),)

    def __getattr__(self, name: str) -> Any:
        if self._server.error is not None and not name.startswith("_"):
            raise DownstreamToolError(self._server.error, self._server.name)
        raise AttributeError(
            f"MCP server {self._server.name!r} has no tool {name!r}. Its tools: {', '.join(self._names) or 'none'}."
        )

    def __repr__(self) -> str:
        lines = [f"{self.__name__}: MCP server {self._server.name!r}"]
        if self._server.error is not None:
            lines.append(f"  NOT AVAILABLE. {self._server.error}")
        for name, tool in self._names.items():
            first = tool.description.strip().splitlines()[0] if tool.description.strip() else ""
            lines.append(f"  {name}{_signature(tool.input_schema)}  {first[:100]}")
        return "\n".join(lines)


def _server_named(name: str) -> Server:
    from memex_mcp.runtime.runtime import current

    server: Server = getattr(current().tools, name)
    return server


def _summary(server: Server) -> str:
    """One line of `repr(tools)`: the server's Python name, its MCP name, its tools (Python and MCP names)."""
    name, spec = server.__name__.removeprefix("tools."), server._server
    alias = f" (MCP name {spec.name!r})" if name != spec.name else ""
    if spec.error is not None:
        return f"  {name}{alias}: NOT AVAILABLE. {spec.error}"
    tools = [n if t.name == n else f"{n} ({t.name!r})" for n, t in server._names.items()]
    return f"  {name}{alias}: {', '.join(tools) or 'no tools'}"


def _server_doc(server: DownstreamServer) -> str:
    return f"The tools of the MCP server {server.name!r}: call them with keyword arguments."


def _function(
    qualifier: str,
    python_name: str,
    server: str,
    tool: DownstreamTool,
    call: Callable[[str, str, dict[str, Any]], ToolCallResult],
) -> Callable[..., Any]:
    def function(*args: Any, **arguments: Any) -> Any:
        if args:
            raise TypeError(
                f"{qualifier}.{python_name}() takes keyword arguments only: "
                f"{qualifier}.{python_name}{_signature(tool.input_schema)}"
            )
        return _value(call(server, tool.name, arguments), server, tool)

    function.__name__ = python_name
    function.__qualname__ = python_name
    function.__module__ = qualifier
    function.__doc__ = _doc(server, tool)
    function.__signature__ = _signature(tool.input_schema)  # type: ignore[attr-defined]
    return function


_JSON_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "array": list,
    "object": dict,
    "null": None,
}


_EMPTY = inspect.Parameter.empty


def _signature(schema: dict[str, Any]) -> inspect.Signature:
    """Keyword-only parameters from a JSON Schema; `(**arguments)` when its names are not identifiers."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return inspect.Signature([inspect.Parameter("arguments", inspect.Parameter.VAR_KEYWORD)])
    required = set(schema.get("required") or ())
    parameters = []
    for name, spec in properties.items():
        if not name.isidentifier() or keyword.iskeyword(name):
            return inspect.Signature([inspect.Parameter("arguments", inspect.Parameter.VAR_KEYWORD)])
        spec = spec if isinstance(spec, dict) else {}
        kind = spec.get("type")
        annotation = _JSON_TYPES.get(kind, _EMPTY) if isinstance(kind, str) else _EMPTY
        default = inspect.Parameter.empty if name in required else spec.get("default")
        parameters.append(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        )
    return inspect.Signature(parameters)


def _doc(server: str, tool: DownstreamTool) -> str:
    lines = [tool.description.strip() or "(no description)", "", f"Tool {tool.name!r} of the MCP server {server!r}."]
    properties = tool.input_schema.get("properties")
    described = (
        {n: s["description"] for n, s in properties.items() if isinstance(s, dict) and s.get("description")}
        if isinstance(properties, dict)
        else {}
    )
    if described:
        lines += ["", "Arguments:"] + [f"  {name}: {text}" for name, text in described.items()]
    return "\n".join(lines)


def _identifier(name: str, taken: set[str]) -> str:
    """`name` as a Python identifier that is not in `taken`: other characters become `_`."""
    # Never a leading `_`: `tools` hides such names from IPython's probes, and help() from users.
    ident = re.sub(r"\W", "_", name, flags=re.ASCII).lstrip("_")
    if not ident or ident[0].isdigit():
        ident = "mcp_" + ident
    if keyword.iskeyword(ident):
        ident += "_"
    candidate, n = ident, 2
    while candidate in taken:
        candidate, n = f"{ident}_{n}", n + 1
    return candidate


def _value(result: ToolCallResult, server: str, tool: DownstreamTool) -> Any:
    if result.is_error:
        text = "\n".join(c.text for c in result.content if c.text) or f"The tool {tool.name!r} failed."
        raise DownstreamToolError(text, server, tool.name)
    if result.structured is not None:
        structured = result.structured
        if tool.wraps_result and list(structured) == ["result"]:
            return structured["result"]
        return structured
    values = [_content(c) for c in result.content]
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def _content(content: Content) -> Any:
    if content.type == "text":
        text = content.text or ""
        if text.lstrip()[:1] in ("{", "["):
            try:
                return json.loads(text)
            except ValueError:
                pass
        return text
    if content.type in ("image", "audio", "blob"):
        try:
            return base64.b64decode(content.data or "")
        except (binascii.Error, ValueError):
            return content.data
    return json.loads(content.text or "null")


def __getattr__(name: str) -> Any:
    # `tools` is the kernel's, which its runtime owns; pickles name it as this module's `tools`.
    if name == "tools":
        from memex_mcp.runtime.runtime import current  # the runtime imports this module

        return current().tools
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
