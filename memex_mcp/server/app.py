"""The MCP surface: four tools, each a thin adapter from arguments to the scratchpad and back."""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar, cast

from mcp.server.auth.provider import TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field
from starlette.requests import Request

from memex_mcp import __version__
from memex_mcp.protocol import NOTHING_TO_SUBMIT, Progress, ScopeListing
from memex_mcp.server import replylog
from memex_mcp.server.auth import principal_of
from memex_mcp.server.errors import KernelCallFailed, RuntimeRefusal, ToolInputError
from memex_mcp.server.guards import ToolCallGuard
from memex_mcp.server.kernel import Kernel, KernelDied, KernelUnavailable
from memex_mcp.server.lifecycle import Lifecycle
from memex_mcp.server.orientation import orient
from memex_mcp.server.render import render_execution
from memex_mcp.server.replies import scope_text, submitted
from memex_mcp.server.scratchpad import Scratchpad
from memex_mcp.server.scratchpads import Many, One, Use
from memex_mcp.server.session import SessionDir
from memex_mcp.server.settings import Settings
from memex_mcp.server.tool_schema import advertised

_log = logging.getLogger(__name__)

#: The server's instructions (sent at initialize). What is loaded and which model sub-agents use
#: the tool descriptions say: every client sends those to its model, not every one sends these.
INSTRUCTIONS = (
    "A persistent Python kernel is your working memory: keep large results in variables and print only "
    "what you need, since everything printed enters your context."
)


@dataclass
class AppState:
    scratchpads: One | Many


@contextmanager
def tool_errors() -> Iterator[None]:
    """Errors the model can act on become tool errors with their message (others stay hidden). A
    failure of memex itself says so, and never reads as a mistake of the call."""
    try:
        yield
    except (ToolInputError, RuntimeRefusal) as exc:
        raise ToolError(str(exc)) from None
    except KernelCallFailed as exc:
        _log.error("memex failed: %s", exc, exc_info=exc.__cause__)
        raise ToolError(
            f"memex-mcp failed internally ({exc}). This is a fault of the server, not of your call; "
            "the kernel and its variables are unaffected. Try again; if it keeps failing, use "
            "execute_code for what this tool does."
        ) from None
    except KernelUnavailable as exc:
        raise ToolError(f"No kernel could be started: {exc.description}") from None
    except KernelDied as exc:
        raise ToolError(
            f"The kernel is not available ({exc.description}); the next call starts a new one. Try again."
        ) from None


#: The `scratchpad` argument every tool takes over HTTP.
Handle = Annotated[
    str | None,
    Field(description="Handle of a scratchpad to work in (default: yours)."),
]

F = TypeVar("F", bound=Callable[..., Any])


def without_handle(tool: F) -> F:
    """`tool` as stdio lists it: the same function, without the `scratchpad` argument (the SDK builds a
    tool's schema from the signature)."""
    signature = inspect.signature(tool, eval_str=True)
    tool.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[p for p in signature.parameters.values() if p.name != "scratchpad"]
    )
    return tool


def named(use: Use, result: CallToolResult, running: bool = True) -> CallToolResult:
    """`result` with what the model must not miss: where its scratchpad came from (once), an execution
    still running (unless the result already says so) and, over HTTP, the scratchpad's handle."""
    first = next((c for c in result.content if isinstance(c, TextContent)), None)
    note = use.pad.running_note() if running else None
    lines = [
        *([use.note] if use.note else []),
        *([first.text] if first is not None else []),
        *([note] if note else []),
        *([f"scratchpad: {use.handle}"] if use.handle else []),
    ]
    text = TextContent(type="text", text="\n".join(lines))
    content = [text if c is first else c for c in result.content] if first is not None else [text, *result.content]
    if use.handle:
        result.meta = {**(result.meta or {}), "memex/scratchpad": use.handle}
    return result.model_copy(update={"content": content})


def build_server(
    settings: Settings,
    launched: Kernel | None = None,
    session: SessionDir | None = None,
    lifecycle: Lifecycle | None = None,
    many: Many | None = None,
    token_verifier: TokenVerifier | None = None,
    auth: AuthSettings | None = None,
) -> MCPServer[AppState]:
    """The MCP server. `launched`: a kernel already starting in `session`, for the first client to
    adopt. `lifecycle`: what the process stops when it is told to (made here if not given). Over
    HTTP: `many`, the scratchpads of the clients (made here if not given), and who may call."""
    pending = [(launched, session)] if launched else []
    lifecycle = lifecycle or Lifecycle()
    orientation = orient(settings)

    @asynccontextmanager
    async def lifespan(_: MCPServer[AppState]) -> AsyncIterator[AppState]:
        # The kernel starts now, in the background, so the first call does not wait for it.
        if settings.transport == "http":
            async with many or Many(settings, lifecycle) as scratchpads:
                yield AppState(scratchpads)
            return
        kernel, session_dir = pending.pop() if pending else (None, None)
        async with Scratchpad(settings, Path(os.getcwd()), kernel, session_dir, lifecycle) as scratchpad:
            yield AppState(One(scratchpad))

    tools: list[Tool] = []

    def tool(description: str, annotations: ToolAnnotations) -> Callable[[F], F]:
        """Registers a tool with the arguments of its transport and its compact input schema."""

        def register(fn: F) -> F:
            fn = fn if settings.transport == "http" else without_handle(fn)
            tools.append(advertised(Tool.from_function(fn, description=description, annotations=annotations)))
            return fn

        return register

    @asynccontextmanager
    async def working_in(ctx: Context, handle: str | None) -> AsyncIterator[Use]:
        """The scratchpad this call works in (see memex_mcp.server.scratchpads)."""
        state = cast(AppState, ctx.request_context.lifespan_context)
        request = ctx.request_context.request
        session_id = request.headers.get("mcp-session-id") if isinstance(request, Request) else None
        with tool_errors():
            async with state.scratchpads.use(principal_of(request), session_id, handle) as use:
                # The latest call's session is the one sampling requests go to (a client may reconnect).
                use.pad.sampling.seen(ctx.session)
                yield use

    @tool(
        description=(
            "Run Python in your persistent kernel (variables, imports, functions persist). Returns stdout and "
            "stderr in order, the last expression's value, a short traceback on error, and figures as "
            f"images. Print only what you need: output over {settings.output_limit:,} characters is cut to "
            f"head and tail, all kept in `_outputs[n]`. After `timeout` ({settings.timeout:g} s default; "
            "raise it for long work) the code is interrupted, variables kept. Code still running at "
            f"{settings.reply_within:g} s goes on, and the next call first returns its output since "
            '(code "" only waits; interrupt=True stops it). Preloaded: `db` and sql(query) (DuckDB), '
            "`docs` (search, grep, list), spawn_agent, `tools`; help() lists all, with signatures. "
            f"{orientation.loaded()}"
        ),
        annotations=ToolAnnotations(title="Run Python in the scratchpad", open_world_hint=True),
    )
    async def execute_code(
        code: Annotated[str, Field(description="Python source, as in a notebook cell.")],
        ctx: Context,
        timeout: Annotated[
            float | None,
            Field(description="Seconds from its start until the code is interrupted."),
        ] = None,
        interrupt: Annotated[bool, Field(description="First stop the code an earlier call left running.")] = False,
        scratchpad: Handle = None,
    ) -> CallToolResult:
        async def progress(p: Progress) -> None:
            await ctx.report_progress(p.progress, p.total, p.message)

        async with working_in(ctx, scratchpad) as use:
            result = await use.pad.execute(code, timeout, progress, interrupt)
        reply = named(use, await render_execution(result, settings), running=False)
        replylog.record(use.pad.session.path, result, reply)
        return reply

    @tool(
        description=(
            "List your kernel's variables, one line each: name, type, size or shape, a short preview "
            "(tables: shape and columns); and sub-agents. Cheaper than printing."
        ),
        annotations=ToolAnnotations(title="List scratchpad variables", read_only_hint=True, idempotent_hint=True),
    )
    async def list_scope(
        ctx: Context,
        pattern: Annotated[str | None, Field(description="Glob filter on names, e.g. 'df_*'.")] = None,
        scratchpad: Handle = None,
    ) -> Annotated[CallToolResult, ScopeListing]:
        async with working_in(ctx, scratchpad) as use:
            listing = await use.pad.list_scope(pattern)
        return named(
            use,
            CallToolResult(
                content=[TextContent(type="text", text=scope_text(listing, settings.output_limit, pattern))],
                structured_content=listing.model_dump(mode="json", include={"variables", "agents"}),
            ),
        )

    @tool(
        description=(
            f"{orientation.agents()} Starts a sub-agent on `task`; returns at once the name of the variable "
            "holding its handle. It runs in a thread of your kernel, reads your variables, and ends with a "
            "value matching `output_schema`; several run in parallel. In execute_code: `agent_1.result()` "
            "waits for its value (a live Python object), `agent_1.status` tells its progress, "
            "`gather(agent_1, agent_2)` waits for several."
        ),
        annotations=ToolAnnotations(title="Start a sub-agent", open_world_hint=True),
    )
    async def spawn_agent(
        ctx: Context,
        task: Annotated[str, Field(description="What the sub-agent must do and return.")],
        inputs: Annotated[list[str] | None, Field(description="Names of your variables it is told about.")] = None,
        output_schema: Annotated[dict[str, Any] | None, Field(description="JSON Schema of its result.")] = None,
        name: Annotated[str | None, Field(description="Variable for the handle (default agent_N).")] = None,
        scratchpad: Handle = None,
    ) -> CallToolResult:
        async with working_in(ctx, scratchpad) as use:
            variable = await use.pad.spawn_agent(task, inputs, output_schema, name)
        text = (
            f"Started sub-agent {variable!r}; its handle is in the variable `{variable}`. "
            f"{variable}.result() waits for its value; {variable}.status says how it is going."
        )
        return named(
            use,
            CallToolResult(content=[TextContent(type="text", text=text)], structured_content={"variable": variable}),
        )

    checked_against = (
        "`schema` if given" if settings.answer_schema is None else "`schema`, else the server's answer schema"
    )

    @tool(
        description=(
            "Hand in your final answer: a JSON `value`, or the name of a kernel `variable` holding it "
            f"(large results need no retyping), checked against {checked_against}: a mismatch is an "
            "error saying what to fix. Replies with its submission number, size and a preview."
        ),
        annotations=ToolAnnotations(title="Submit the final answer", idempotent_hint=False),
    )
    async def submit(
        ctx: Context,
        value: Annotated[Any, Field(description="The answer as JSON (not null).")] = None,
        variable: Annotated[str | None, Field(description="Kernel variable holding the answer.")] = None,
        schema: Annotated[dict[str, Any] | None, Field(description="JSON Schema to check it against.")] = None,
        scratchpad: Handle = None,
    ) -> CallToolResult:
        if variable is not None and value is not None:
            raise ToolError("Give either `value` or `variable`, not both.")
        if variable is None and value is None:
            raise ToolError(NOTHING_TO_SUBMIT)
        async with working_in(ctx, scratchpad) as use:
            receipt = await use.pad.submit(value, variable, schema)
        return named(
            use,
            CallToolResult(
                content=[TextContent(type="text", text=receipt.acknowledgement())],
                structured_content=submitted(receipt),
                _meta={"memex/submission": receipt.number, "memex/complete": receipt.complete},
            ),
        )

    server: MCPServer[AppState] = MCPServer(
        "memex-mcp",
        instructions=INSTRUCTIONS,
        version=__version__,
        lifespan=lifespan,
        token_verifier=token_verifier,
        auth=auth,
        tools=tools,
    )
    server.middleware.append(ToolCallGuard(server, settings.output_limit))
    return server
