"""The IPython extension that puts the prelude into every kernel and records every cell."""

from __future__ import annotations

from typing import Any

from IPython.core.interactiveshell import InteractiveShell

from memex_mcp.protocol import RPC_NAME
from memex_mcp.runtime import agents, catalog, config, data, touchpoints
from memex_mcp.runtime.catalog import Help, memex_help
from memex_mcp.runtime.cells import marker
from memex_mcp.runtime.cells.recorder import CellRecorder
from memex_mcp.runtime.checkpoint.saver import install_checkpoints
from memex_mcp.runtime.documents.corpus import Corpus, read_document
from memex_mcp.runtime.limits import apply_memory_limit
from memex_mcp.runtime.rpc import Rpc
from memex_mcp.runtime.submit import Submissions
from memex_mcp.runtime.tools import tools

__all__ = ["load_ipython_extension"]


def load_ipython_extension(shell: InteractiveShell) -> None:
    touchpoints.require(shell)  # before anything is installed: a kernel without a hook must not start
    touchpoints.lean_request_cycle(shell)
    apply_memory_limit(config.load().memory_limit)
    marker.install(shell, config.load().session_dir)  # first: before every other cell hook
    ns = shell.user_ns
    recorder = CellRecorder(shell)
    recorder.install()
    submissions = Submissions(ns)
    database, loader = data.install(shell)
    catalog.SECTIONS.append(lambda: data.help_text(loader))

    def submit(value: Any = None) -> Any:
        """Record a final answer (validated against the server's answer schema, if any)."""
        return submissions.submit(value)

    docs = Corpus(config.load())
    docs.start()  # indexes the data dirs in the background; the first call that needs it waits

    prelude: dict[str, Any] = {
        "help": Help(),
        "memex_help": memex_help,
        "history": recorder.history,
        "_outputs": recorder.outputs,
        "submit": submit,
        "submissions": submissions.items,
        **agents.bind(ns),
        "docs": docs,
        "read_document": read_document,
        "tools": tools,
        **database,
    }
    rpc = prelude[RPC_NAME] = Rpc(ns, shell.user_ns_hidden, submissions)
    shell.push(prelude, interactive=False)  # type: ignore[no-untyped-call]
    # After the recorder's hook, so that the checkpoint sees this cell in `history`.
    install_checkpoints(shell, config.load(), recorder, submissions, rpc)
