"""The IPython extension that puts the prelude into every kernel and records every cell.

All wiring between the kernel's parts happens here: the parts themselves know only what they are
handed. The `Runtime` built here owns them, and its `close()` is the kernel's one exit hook.
"""

from __future__ import annotations

import atexit
from typing import Any

from IPython.core.interactiveshell import InteractiveShell

from memex_mcp.protocol import RPC_NAME
from memex_mcp.runtime import agents, config, data, runtime, touchpoints
from memex_mcp.runtime.catalog import Help, catalog
from memex_mcp.runtime.cells import marker
from memex_mcp.runtime.cells.recorder import CellRecorder
from memex_mcp.runtime.checkpoint.saver import Checkpointer
from memex_mcp.runtime.documents.corpus import Corpus, read_document
from memex_mcp.runtime.feed import ScopeFeed
from memex_mcp.runtime.limits import apply_memory_limit
from memex_mcp.runtime.rpc import Rpc
from memex_mcp.runtime.scope import user_variables
from memex_mcp.runtime.submit import Submissions
from memex_mcp.runtime.trajectories import bind as bind_trajectories

__all__ = ["load_ipython_extension"]


def load_ipython_extension(shell: InteractiveShell) -> None:
    touchpoints.require(shell)  # before anything is installed: a kernel without a hook must not start
    touchpoints.lean_request_cycle(shell)
    settings = config.load()  # the one read: every part below is handed what it needs
    kernel = runtime.Runtime(settings)
    runtime.install(kernel)
    atexit.register(kernel.close)
    apply_memory_limit(settings.memory_limit)
    marker.install(shell, settings.session_dir)  # first: before every other cell hook
    ns = shell.user_ns
    recorder = CellRecorder(shell, settings.session_dir)
    recorder.install()
    submissions = Submissions(ns)
    database, kernel.loader = data.install(shell, settings)
    loader = kernel.loader
    kernel.sections.append(lambda: data.help_text(loader))

    def submit(value: Any = None) -> Any:
        """Record a final answer (validated against the server's answer schema, if any)."""
        return submissions.submit(value)

    kernel.corpus = Corpus(settings)
    kernel.corpus.start()  # indexes the data dirs in the background; the first call that needs it waits

    memex_help = catalog(kernel.sections)
    prelude: dict[str, Any] = {
        "help": Help(memex_help),
        "memex_help": memex_help,
        "history": recorder.history,
        "_outputs": recorder.outputs,
        "submit": submit,
        "submissions": submissions.items,
        "trajectories": bind_trajectories(settings.session_dir),
        **agents.bind(kernel.agents, ns),
        "docs": kernel.corpus,
        "read_document": read_document,
        "tools": kernel.tools,
        **database,
    }
    rpc = prelude[RPC_NAME] = Rpc(ns, shell.user_ns_hidden, submissions, kernel.agents)
    shell.push(prelude, interactive=False)  # type: ignore[no-untyped-call]

    checkpointer = kernel.checkpointer = Checkpointer(shell, settings, recorder.history, lambda: submissions.items)
    # After the recorder's hook, so that the checkpoint sees this cell in `history`.
    checkpointer.install()
    hidden = shell.user_ns_hidden
    kernel.feed = ScopeFeed(
        settings.session_dir, lambda: user_variables(ns, hidden), lambda: touchpoints.main_shell_busy(shell)
    )
    checkpointer.on_flush = kernel.feed.update
    touchpoints.before_each_request(shell, kernel.feed.request_began)
    submissions.subscribe(checkpointer.submitted)
    rpc.register(
        "restore",
        lambda last_attempt=None: checkpointer.restore(last_attempt, settings.restore_timeout).model_dump(mode="json"),
    )
