"""What the agent's model reads: the system prompt, reminders, and each turn's observation."""

from __future__ import annotations

import re
from collections.abc import Sequence

from memex_mcp.protocol import ScopeEntry
from memex_mcp.runtime.catalog import CATALOG
from memex_mcp.text import keep_ends

_CODE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)

REMINDER = (
    "Your reply had no ```python block, so nothing ran. Answer with Python code in a ```python "
    "fenced block; call submit(value) in that code when you have the answer."
)


def system_prompt(name: str, inputs: Sequence[ScopeEntry], contract: str, max_turns: int) -> str:
    if inputs:
        listed = "\n".join(f"- {e.name}: {e.type}, {e.summary}" for e in inputs)
        given = f"Variables you were given (already defined, the caller's live objects):\n{listed}"
    else:
        given = "You were given no particular variables."
    return f"""\
You are {name}, a sub-agent working in a Python kernel. You act only by writing code: answer with
Python in ```python fenced blocks; they run in your own namespace and what they print comes back
to you as the next message. Variables persist between your turns. You can read the variables of
the agent that started you (do not change its objects unless the task says so); what you assign
stays yours. Print only what you need to read: long output is cut to its head and tail.

{given}

The kernel's preloaded names:
{CATALOG}

Finishing: {contract}
submit(value) ends your work at once; if the value does not fit, you get the error and can fix
it. You have {max_turns} turns in total; an exception in your code is shown to you, fix it and
go on."""


def extract_code(text: str) -> list[str]:
    """The code of each fenced ```python (or ```py, or unlabelled) block, in order."""
    return [block for block in _CODE.findall(text) if block.strip()]


def observation(output: str, limit: int, where: str) -> str:
    """What the model reads after its code ran: the output, its head and tail if it is long."""
    if not output.strip():
        return "(the code ran and printed nothing)"
    return keep_ends(output, limit, where)
