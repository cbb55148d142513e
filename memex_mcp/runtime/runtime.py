"""`Runtime`: the kernel's parts, built once when the extension loads, and the order they stop in.

It owns the configuration (read once, then handed down), the agents, the channel to the server,
the downstream `tools`, the session's catalog sections, and, once the extension has built them,
the data loader, the document corpus and the checkpointer. `close()` is the kernel's one exit
hook: it stops those parts in a fixed order, whatever order they were started or first used in.

Code that runs without the extension (a plain Python process) gets a runtime of its own on first
use, built from the environment, with no loader, corpus or checkpointer.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from memex_mcp.protocol import RuntimeConfig
from memex_mcp.runtime import config
from memex_mcp.runtime.agents.registry import Agents
from memex_mcp.runtime.channel import Channel
from memex_mcp.runtime.tools import Tools

if TYPE_CHECKING:
    from memex_mcp.runtime.checkpoint.saver import Checkpointer
    from memex_mcp.runtime.data.loader import Loader
    from memex_mcp.runtime.documents.corpus import Corpus
    from memex_mcp.runtime.feed import ScopeFeed

__all__ = ["Runtime", "current", "install"]


class Runtime:
    def __init__(self, settings: RuntimeConfig) -> None:
        self.config = settings
        self.agents = Agents(settings)
        self.channel = Channel(settings.channel, settings.channel_secret)
        self.tools = Tools(lambda: self.channel)
        #: Parts of `memex_help()` that depend on the session (the data files), printed after the catalog.
        self.sections: list[Callable[[], str]] = []
        self.loader: Loader | None = None
        self.corpus: Corpus | None = None
        self.checkpointer: Checkpointer | None = None
        #: The viewer's record of the scope (memex_mcp.runtime.feed).
        self.feed: ScopeFeed | None = None
        #: The steps `close()` ran, in the order it ran them.
        self.closed: list[str] = []
        self._close_once = threading.Lock()

    def close(self) -> None:
        """Stop the kernel's parts, once (a later call does nothing). Each step may use what the steps
        after it close, never the other way round, and each runs whatever the one before did:

        1. `agents`: cancelled, and given `agents.registry.EXIT_GRACE` in all to unwind. They use all
           of the rest: they change the scope, query the database, and a stopped sampling call
           withdraws its request over the channel.
        2. `checkpoint`: the last flush; the scope no longer changes under it. Then `feed`: the
           viewer's record of the scope, with that flush's changes.
        3. `channel`: nothing is left to ask the server.
        4. `database`: a clean close checkpoints its write-ahead log into the file.
        """
        if not self._close_once.acquire(blocking=False):
            return
        steps: list[tuple[str, Callable[[], None] | None]] = [
            ("agents", self.agents.stop),
            ("checkpoint", self.checkpointer.flush if self.checkpointer is not None else None),
            ("feed", self.feed.flush if self.feed is not None else None),
            ("channel", self.channel.close),
            ("database", self.loader.close if self.loader is not None else None),
        ]
        for name, step in steps:
            if step is None:
                continue
            # An exiting kernel has nowhere to report a failure to, and the next step must still run.
            with contextlib.suppress(Exception):
                step()
            self.closed.append(name)


_current: Runtime | None = None
_current_lock = threading.Lock()


def install(runtime: Runtime) -> None:
    """Make `runtime` the one `current()` returns (the extension's, for the kernel's lifetime)."""
    global _current
    with _current_lock:
        _current = runtime


def current() -> Runtime:
    """This kernel's runtime; without the extension, one built from the environment on first use."""
    global _current
    with _current_lock:
        if _current is None:
            _current = Runtime(config.load())
        return _current
