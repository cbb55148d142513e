"""How one execute_code call ended, as values, and the sentences the model reads about it.

The scratchpad's steps each return one of these; the result is built once from the last of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from memex_mcp.server.output import CellOutput


@dataclass(frozen=True)
class Replacement:
    """A kernel was replaced: `ok` with what the new one restored, or not, with why no kernel started."""

    ok: bool
    text: str

    def after(self, what: str) -> str:
        """`what` happened to the kernel, and how replacing it went, as one sentence."""
        if self.ok:
            return f"{what} and was replaced by a new one; {self.text}."
        return f"{what}, and a new one could not be started ({self.text}); the next call tries again."


# How an interrupt went.


@dataclass(frozen=True)
class KeptState:
    """The code stopped on the interrupt."""

    def sentence(self) -> str:
        return " The kernel kept its state."


@dataclass(frozen=True)
class DiedOnInterrupt:
    """The interrupt killed the kernel (a SIGINT handler that exits, a C library that aborts)."""

    description: str
    replacement: Replacement

    def sentence(self) -> str:
        return " " + self.replacement.after(f"The kernel died on the interrupt ({self.description})")


@dataclass(frozen=True)
class Unstoppable:
    """The code ignored the interrupt for `grace` seconds, so the kernel was replaced."""

    grace: float
    replacement: Replacement

    def sentence(self) -> str:
        ok, text = self.replacement.ok, self.replacement.text
        restarted = (
            f"restarted; {text}."
            if ok
            else f"stopped, and a new one could not be started ({text}); the next call tries again."
        )
        return f" It did not stop within {self.grace:g} s of the interrupt, so the kernel was {restarted}"


Stop = KeptState | DiedOnInterrupt | Unstoppable


# How the call ended.


@dataclass(frozen=True)
class Finished:
    """The code ran to its end; `failed`: it raised."""

    failed: bool

    @classmethod
    def of(cls, output: CellOutput) -> Finished:
        return cls(failed=bool((output.report and output.report.error) or output.raw_error))


@dataclass(frozen=True)
class TimedOut:
    limit: float
    stop: Stop


@dataclass(frozen=True)
class Abandoned:
    """The caller went away while the code ran, so it was interrupted (no one reads this result)."""

    stop: Stop


@dataclass(frozen=True)
class Interrupted:
    """The model asked for the running execution to be stopped (interrupt=True)."""

    stop: Stop


@dataclass(frozen=True)
class StillRunning:
    """The execution outlived the reply: it runs on in the kernel, bounded by its own timeout, and
    the next execute_code continues it."""

    number: int | None
    seconds: float
    limit: float
    #: What the runtime last reported of its progress ("11/16 agents done"), if anything.
    progress: str | None = None
    #: Code sent with this call was not run, because this execution had not ended.
    held_code: bool = False

    @property
    def label(self) -> str:
        return f"Execution [{self.number}]" if self.number is not None else "The execution"

    @property
    def kept(self) -> str:
        where = f"`_outputs[{self.number}]`" if self.number is not None else "`_outputs` under its number"
        return f"all of its output is kept ({where} once it ends)"

    def line(self) -> str:
        how = duration(self.seconds) + (f"; {self.progress}" if self.progress else "")
        head = f"[memex] {self.label} is still running ({how})"
        if self.held_code:
            head += "; the code of this call was NOT run: send it again once it has ended"
        return (
            f"{head}. Its output so far is above; {self.kept}. To continue, call execute_code again: "
            'code "" only waits for it, and returns what it prints next; to stop it, call execute_code '
            f"with interrupt=True. Its timeout ({self.limit:g} s from its start) still applies."
        )


def duration(seconds: float) -> str:
    """'4.2 s', '2 min 10 s', '1 h 3 min'."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    return f"{minutes // 60} h {minutes % 60} min"


@dataclass(frozen=True)
class Died:
    """The kernel died, or was stopped, after it began the code: it is never run again."""

    cause: str
    replacement: Replacement
    #: Said when the code was stopped before its time, so the model does not wait for a retry.
    not_run_again: bool = False


@dataclass(frozen=True)
class NotBegun:
    """The kernel died, or was stuck in work of its own, before it began the code: the code may run
    on the new kernel, and `note` tells the model what happened to the old one."""

    cause: str
    replacement: Replacement

    @property
    def note(self) -> str:
        return self.replacement.after(self.cause)


Outcome = Finished | TimedOut | Abandoned | Interrupted | Died | NotBegun | StillRunning


@dataclass(frozen=True)
class CellResult:
    """What one execute_code call returns to the model: the output, how it ended, notes before it."""

    output: CellOutput
    outcome: Outcome
    #: Sentences about the kernel the model must know, shown before the output.
    notes: tuple[str, ...] = ()
    #: This is the output of an execution an earlier call started (and returned before its end).
    continued: bool = False
    #: The running execution this call first waited for, shown before this call's own output.
    earlier: CellResult | None = None

    @property
    def is_error(self) -> bool:
        if isinstance(self.outcome, StillRunning):
            return False
        return not (isinstance(self.outcome, Finished) and not self.outcome.failed)

    @property
    def failed(self) -> bool:
        """The code raised, and its error is part of the output."""
        return isinstance(self.outcome, Finished) and self.outcome.failed

    @property
    def ending(self) -> str | None:
        """Shown after the output when the execution did not simply finish."""
        match self.outcome:
            case TimedOut(limit, stop):
                return f"TimeoutError: the execution exceeded {limit:g} s and was interrupted." + stop.sentence()
            case Abandoned(stop):
                return "The execution was interrupted." + stop.sentence()
            case Interrupted(stop):
                return "KeyboardInterrupt: the execution was interrupted, as asked (interrupt=True)." + stop.sentence()
            case StillRunning():
                return self.outcome.line()
            case Died(cause, replacement, not_run_again):
                return replacement.after(cause) + (" The code is not run again." if not_run_again else "")
            case NotBegun():
                return f"{self.outcome.note} The code was not run: send it again."
            case _:
                return None
