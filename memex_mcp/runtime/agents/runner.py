"""One agent's loop, in its own thread: ask the model, run its code, observe, until it submits.

Cancel and timeout end the handle at once; code the agent is running then gets an exception
raised in its thread (as Ctrl-C would), which its `except Exception` cannot catch. Code blocked
in C (a long `time.sleep`, a socket read) stops when it comes back to Python. A model call is
stopped the same way when its provider says it can be (`interruptible`: the sampling model waits
in short slices and withdraws its request); other providers' calls (an HTTP client's socket read)
run to their end, and their answer is dropped.

When the kernel exits, its runtime cancels the agents still running and gives them a moment to
unwind (`Agents.stop`) before it flushes the last checkpoint and closes the database: left alone
they would fight the exiting kernel for the GIL, and write while those are flushed and closed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from memex_mcp.runtime import touchpoints
from memex_mcp.runtime.agents.handle import AgentHandle, Turn
from memex_mcp.runtime.agents.namespace import AgentNamespace, Signal, run_block
from memex_mcp.runtime.agents.prompt import REMINDER, extract_code, observation
from memex_mcp.runtime.agents.returns import Contract
from memex_mcp.runtime.cells.history import ExecutionRecord, History
from memex_mcp.runtime.cells.streams import ROUTE, routed_threads
from memex_mcp.runtime.models.base import Message, Model, ModelError, Reply, Request


class Submitted(Signal):
    def __init__(self, value: Any) -> None:
        super().__init__("submitted")
        self.value = value


class Stopped(Signal):
    """Raised in an agent's thread when it was cancelled or ran out of time."""


class Runner:
    def __init__(
        self,
        handle: AgentHandle,
        model: Model,
        contract: Contract,
        namespace: AgentNamespace,
        system: str,
        limits: threading.BoundedSemaphore,
        output_limit: int,
        timeout: float,
    ) -> None:
        self.handle = handle
        self.model = model
        self.contract = contract
        self.namespace = namespace
        self.history = History()
        self._system = system
        self._limits = limits
        self._output_limit = output_limit
        self._timeout = timeout
        self._parts: list[str] = []
        self._lock = threading.Lock()
        #: True while the thread runs agent code or an interruptible model call: a stop may be raised.
        self._stoppable = False
        self._stopping = False
        self._thread_id = 0
        self._submitted: tuple[Any] | None = None
        self._timer = threading.Timer(timeout, self._expire)
        self._timer.daemon = True
        self._thread = threading.Thread(target=self._main, name=f"memex-agent-{handle.name}", daemon=True)
        self._ended: Callable[[Runner], None] = _nothing

    def start(self, ended: Callable[[Runner], None]) -> None:
        """Run the agent in its thread; `ended(self)` is called in that thread as it ends."""
        routed_threads()
        self._ended = ended
        self.handle._interrupt = self._interrupt
        touchpoints.start_own_thread(self._timer)
        touchpoints.start_own_thread(self._thread)  # `_main` sets the agent's own route

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def submit(self, value: Any = None) -> None:
        """Finish this agent with `value`, validated against its `returns`. A value that does not
        fit raises SubmitError saying why, and the agent goes on."""
        checked = self.contract.validate(value)
        self._submitted = (checked,)  # kept, should a bare `except:` swallow the signal
        raise Submitted(checked)

    def _main(self) -> None:
        self._thread_id = threading.get_ident()
        ROUTE.set(self._parts_append)  # this thread's prints are the agent's, never the cell's
        try:
            self._loop()
        except Stopped:
            pass
        except ModelError as exc:
            self.handle._finish("failed", reason=f"the model failed: {exc}")
        except Exception as exc:
            self.handle._finish("failed", reason=f"the agent runtime failed: {type(exc).__name__}: {exc}")
        finally:
            self._timer.cancel()
            self._leave_stoppable()
            # Finished handles stay listed for good: they must not keep this runner, and with it the
            # agent's namespace (its own objects, and the parent's names as they were at the spawn).
            self.handle._interrupt = _no_interrupt
            self._ended(self)

    def _parts_append(self, text: str) -> None:
        self._parts.append(text)

    def _loop(self) -> None:
        handle = self.handle
        messages = [Message("system", self._system), Message("user", f"Your task:\n{handle.task}")]
        for turn in range(1, handle.max_turns + 1):
            reply = self._ask(messages, turn)
            messages.append(Message("assistant", reply.text))
            blocks = extract_code(reply.text)
            if not blocks:
                handle.transcript.append(Turn(turn, reply.text, "", ""))
                handle.changed()
                messages.append(Message("user", REMINDER))
                continue
            output = self._run(blocks, turn)
            handle.transcript.append(Turn(turn, reply.text, "\n\n".join(blocks), output))
            handle.changed()
            if self._submitted is not None:
                handle._finish("done", value=self._submitted[0])
                return
            if handle.done():
                return
            where = f"history[{len(self.history) - 1}].output"
            messages.append(Message("user", observation(output, self._output_limit, where)))
        handle._finish("failed", reason=f"it did not submit an answer within max_turns={handle.max_turns}")

    def _ask(self, messages: list[Message], turn: int) -> Reply:
        while not self._limits.acquire(timeout=0.25):
            if self.handle.done():
                raise Stopped
        try:
            if self.handle.done():
                raise Stopped
            info: dict[str, object] = {
                "name": self.handle.name,
                "turn": turn,
                "depth": self.handle.depth,
                "task": self.handle.task,
            }
            request = Request(list(messages), info=info)
            if getattr(self.model, "interruptible", False):
                self._enter_stoppable()
                try:
                    reply = self.model.complete(request)
                finally:
                    self._leave_stoppable()
            else:
                reply = self.model.complete(request)
        except ModelError:
            raise
        except Exception as exc:  # a provider's own bug or a scripted model's: still the model's failure
            raise ModelError(f"{self.model.name} raised {type(exc).__name__}: {exc}") from exc
        finally:
            self._limits.release()
        usage = self.handle._usage
        usage.model_calls += 1
        usage.input_tokens += reply.input_tokens
        usage.output_tokens += reply.output_tokens
        if self.handle.done():
            raise Stopped
        return reply

    def _run(self, blocks: list[str], turn: int) -> str:
        """Run the blocks in order until one fails or submits; their output."""
        self._parts.clear()
        started = time.perf_counter()
        prefix = f"<{self.handle.name} turn "
        error: str | None = None
        for i, block in enumerate(blocks, 1):
            filename = f"{prefix}{turn}{f'.{i}' if len(blocks) > 1 else ''}>"
            self.namespace.refresh()
            self._enter_stoppable()
            try:
                error = run_block(block, self.namespace, filename, prefix)
            except Submitted:
                pass
            finally:
                self._leave_stoppable()
            if error is not None:
                self._parts.append(error + "\n")
            if error is not None or self._submitted is not None or self.handle.done():
                break
        output = "".join(self._parts)
        self.history.append(
            ExecutionRecord(turn, "\n\n".join(blocks), output, error is not None, time.perf_counter() - started)
        )
        return output

    def _enter_stoppable(self) -> None:
        """Open the window in which a stop is raised in this thread; Stopped at once if one came
        already (checked under the lock `_interrupt` takes, so a stop is never missed)."""
        with self._lock:
            if self.handle.done():
                raise Stopped
            self._stoppable = True

    def _leave_stoppable(self) -> None:
        with self._lock:
            self._stoppable = False
            if self._stopping:  # drop a stop that arrived as the code was returning
                self._stopping = False
                _raise_in(self._thread_id, None)

    def _interrupt(self) -> None:
        with self._lock:
            if self._stoppable:
                self._stopping = True
                _raise_in(self._thread_id, Stopped)

    def _expire(self) -> None:
        if self.handle._finish("failed", reason=f"it ran out of time ({self._timeout:g} s)"):
            self._interrupt()


def _no_interrupt() -> None:
    pass


def _nothing(runner: Runner) -> None:
    pass


def _raise_in(thread_id: int, error: type[BaseException] | None) -> None:
    """Raise `error` in a thread at its next bytecode (None: withdraw one not raised yet)."""
    import ctypes

    exc = ctypes.py_object(error) if error is not None else None
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), exc)
