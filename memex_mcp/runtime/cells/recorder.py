"""Records every cell: its full output into `_outputs` and `history`, and a report for the server.

The server sees the same output on IOPub, but keeps only a budgeted slice of it; the full text
must live in the kernel, where the model can reach it from code. Capturing it here costs no extra
round trip. Which execution each piece of output belongs to is `routing`'s business; a big output
is kept in a file of the session (`spool`).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from IPython.core.interactiveshell import ExecutionInfo, ExecutionResult, InteractiveShell

from memex_mcp.protocol import REPORT_KEY, CellReport
from memex_mcp.runtime import touchpoints
from memex_mcp.runtime.cells.descriptors import DescriptorCapture
from memex_mcp.runtime.cells.history import ExecutionRecord, History, Outputs
from memex_mcp.runtime.cells.routing import Router
from memex_mcp.runtime.cells.spool import SpooledText
from memex_mcp.runtime.cells.streams import ROUTE, Origin, StreamTee, routed_threads
from memex_mcp.runtime.cells.tracebacks import short_traceback


class CellRecorder:
    """Tees the kernel's output streams and result display while a cell runs."""

    def __init__(self, shell: InteractiveShell, session_dir: str | Path) -> None:
        self.shell = shell
        self.history = History()
        self.outputs = Outputs(self.history)
        #: Big outputs are spooled to files here (the session dir).
        self._root = Path(session_dir)
        self._router = Router(self.history, self._spool, lambda: int(shell.execution_count))
        self._code = ""
        self._started = 0.0
        self._tees: list[StreamTee] = []
        self._descriptors: list[DescriptorCapture] = []
        self._report: CellReport | None = None

    def install(self) -> None:
        out, err = StreamTee(sys.stdout, self._router.write), StreamTee(sys.stderr, self._router.write)
        out.other, err.other = err, out
        self._tees = [out, err]
        routed_threads(self._origin)
        touchpoints.keep_no_output_copy(self.shell)
        for tee in self._tees:
            tee.install()
        self._descriptors = [DescriptorCapture(1, out.write), DescriptorCapture(2, err.write)]
        touchpoints.wrap_display_hook(self.shell, self._tee_format)
        touchpoints.wrap_display_publisher(self.shell, self._tee_display)
        touchpoints.wrap_finish_metadata(self.shell, self._with_report)
        self.shell.events.register("pre_run_cell", self.pre_run_cell)
        self.shell.events.register("post_run_cell", self.post_run_cell)
        touchpoints.minimal_tracebacks(self.shell)

    def pre_run_cell(self, info: ExecutionInfo) -> None:
        self._drain()  # what subprocesses wrote between cells is shown as such
        self._code = info.raw_cell or ""
        self._started = time.perf_counter()
        # IPython has counted this cell already when it stores it in history.
        self._router.begin(self.shell.execution_count - (1 if info.store_history else 0))

    def post_run_cell(self, result: ExecutionResult) -> None:
        touchpoints.forget_output_copy(self.shell)
        if self._router.number is None:  # an empty cell: IPython runs nothing, records nothing
            self._report = CellReport(execution_count=result.execution_count or self.shell.execution_count)
            return
        self._drain()
        number = self._router.number
        text = self._router.end()
        error = result.error_before_exec or result.error_in_exec
        error_text = short_traceback(error, self._cell_files()) if error is not None else None
        if error_text:
            text.append(error_text + "\n")
        elapsed = time.perf_counter() - self._started
        self.history.append(ExecutionRecord(number, self._code, text, error is not None, elapsed))
        self._report = CellReport(
            execution_count=number,
            error=error_text,
            error_type=type(error).__name__ if error is not None else None,
            output_chars=len(text),
        )

    def _spool(self, number: int) -> SpooledText:
        # The pid keeps apart the files of two kernels on one session (a second server on it).
        return SpooledText(self._root, f"outputs/{number}-{os.getpid()}.txt")

    def _origin(self) -> Origin | None:
        """The route of a thread started by the cell's own thread: that execution."""
        number = self._router.number
        if number is None or threading.current_thread() is not threading.main_thread():
            return None
        return Origin(number)

    def _with_report(self, finish: Callable[..., Any]) -> Callable[..., Any]:
        # The reply the server waits for anyway carries the report: no extra message, no extra flush.
        def finish_metadata(parent: Any, metadata: dict[str, Any], reply_content: Any) -> Any:
            metadata = finish(parent, metadata, reply_content)
            # A subshell's reply (the server's calls, beside a running cell) never takes the cell's.
            if self._report is not None and threading.current_thread() is threading.main_thread():
                metadata[REPORT_KEY] = self._report.model_dump(mode="json")
                self._report = None
            return metadata

        return finish_metadata

    def _drain(self) -> None:
        for capture in self._descriptors:
            capture.drain()

    def _cell_files(self) -> dict[str, int]:
        return touchpoints.cell_filenames(self.shell)

    def _tee_format(self, write: Callable[..., Any]) -> Callable[..., Any]:
        def tee_format(format_dict: dict[str, Any], md_dict: Any = None) -> Any:
            self._drain()  # what subprocesses printed comes before the cell's value
            self._record_text(format_dict)
            return write(format_dict, md_dict)

        return tee_format

    def _tee_display(self, publish: Callable[..., Any]) -> Callable[..., Any]:
        def tee_publish(data: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            route = ROUTE.get()
            text = data.get("text/plain")
            if isinstance(route, Origin):
                # An earlier execution's thread: its text is kept and shown as that execution's.
                image = any(k.startswith("image/") for k in data)
                if route.number != self._router.number and isinstance(text, str) and not image:
                    self._tees[0].write(text + "\n")
                    return None
            elif route is not None:  # a sub-agent's display: its own output, never the cell's
                if isinstance(text, str):
                    route(text + "\n")
                return None
            self._record_text(data)
            return publish(data, *args, **kwargs)

        return tee_publish

    def _record_text(self, data: dict[str, Any]) -> None:
        # A display with an image is shown as the image; its text/plain is a placeholder.
        if any(k.startswith("image/") for k in data):
            return
        text = data.get("text/plain")
        if isinstance(text, str):
            self._router.record(text + "\n")
