"""A tool-calling model a Python function writes, for tests and demonstrations without a model.

    def policy(messages, tools):
        if len(messages) == 2:  # system, question
            return ToolReply("", [ToolCall("c1", "sql", {"query": "select 42"})])
        return ToolReply("", [ToolCall("c2", "submit", {"value": 42})])

    model = ScriptedToolModel(policy, name="scripted:answer-42")

Tokens are estimated as real tokenizers average: four characters a token, counting every message
and the tool schemas sent with each call. `scripted:oracle` is the bundled policy: it knows the
bundled suite's questions and answers them in each harness as a capable model would (code in the
kernel for memex, `sql` and `search` calls for tools); any other question gets "I don't know".
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from memex_mcp.eval.harness import AGGREGATE_MARK
from memex_mcp.eval.models import ChatMessage, ModelError, ToolCall, ToolReply, ToolSpec

Policy = Callable[[Sequence[ChatMessage], Sequence[ToolSpec]], ToolReply]


class ScriptedToolModel:
    def __init__(self, fn: Policy, name: str = "scripted") -> None:
        self.fn = fn
        self.name = name

    def complete(self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], max_tokens: int) -> ToolReply:
        reply = self.fn(messages, tools)
        sent = sum(len(m.text) + sum(len(json.dumps(c.arguments)) for c in m.tool_calls) for m in messages)
        sent += sum(len(t.name) + len(t.description) + len(json.dumps(t.parameters)) for t in tools)
        said = len(reply.text) + sum(len(c.name) + len(json.dumps(c.arguments)) for c in reply.tool_calls)
        return ToolReply(reply.text, reply.tool_calls, max(1, sent // 4), max(1, said // 4))


def policy(name: str) -> ScriptedToolModel:
    """The bundled policy `name` (`scripted:<name>`)."""
    if name != "oracle":
        raise ModelError(
            f"No scripted policy {name!r}; the bundled one is scripted:oracle (it knows the bundled suite)."
        )
    return ScriptedToolModel(oracle, name="scripted:oracle")


@dataclass(frozen=True)
class Recipe:
    #: memex: code that leaves the answer in `answer` and prints it.
    code: str
    #: tools: the calls to make, one a turn, then what to submit given their results' texts.
    calls: tuple[tuple[str, dict[str, object]], ...]
    pick: Callable[[list[str]], str]


def _cell(results: list[str]) -> str:
    """The value of a one-cell `sql` result (its header is the first line)."""
    return results[-1].splitlines()[1].strip()


def _revenue(region: str, quarter: str) -> Callable[[list[str]], str]:
    pattern = rf"{region} region was\s+\$([\d.]+) million in {quarter}"
    return lambda results: re.findall(pattern, results[-1])[0]


def _totals(results: list[str]) -> str:
    found = [
        float(re.findall(rf"total revenue of\s+\$([\d.]+) million for {q}", text)[0])
        for q, text in zip(("Q1 2025", "Q3 2025"), results, strict=True)
    ]
    return f"{found[1] - found[0]:.1f}"


def _sql_recipe(query: str) -> Recipe:
    code = f'answer = sql("""{query}""").fetchone()[0]\nprint(answer)'
    return Recipe(code, (("sql", {"query": query}),), _cell)


_DOC_CODE = """import re
pattern = {pattern!r}
hits = docs.search({query!r}, k=5)
answer = next(float(m[1]) for h in hits if (m := re.search(pattern, h.text)))
print(answer)"""

RECIPES: dict[str, Recipe] = {
    "How many orders were cancelled?": _sql_recipe("SELECT count(*) FROM orders WHERE status = 'cancelled'"),
    "Which country has the most customers?": _sql_recipe(
        "SELECT country, count(*) AS n FROM customers GROUP BY country ORDER BY n DESC LIMIT 1"
    ),
    "What is the total revenue, in dollars, of the order lines whose product is in the Outdoor category? A line's "
    "revenue is quantity × unit price × (1 − discount).": _sql_recipe(
        "SELECT round(sum(l.quantity * l.unit_price * (1 - l.discount)), 2) AS revenue "
        "FROM order_lines l JOIN products p USING (sku) WHERE p.category = 'Outdoor'"
    ),
    "What was Kestrel Instruments' revenue in the EMEA region in Q3 2025, in millions of dollars?": Recipe(
        _DOC_CODE.format(pattern=r"EMEA region was\s+\$([\d.]+) million in Q3 2025", query="EMEA revenue Q3 2025"),
        (("search", {"query": "EMEA revenue Q3 2025"}),),
        _revenue("EMEA", "Q3 2025"),
    ),
    "What was Kestrel Instruments' operating income in Q2 2025, in millions of dollars?": Recipe(
        _DOC_CODE.format(pattern=r"operating income of\s+\$([\d.]+) million", query="operating income Q2 2025"),
        (("read_page", {"doc": "docs/kestrel_q2_2025_report.pdf", "page": 1}),),
        lambda results: re.findall(r"operating income of\s+\$([\d.]+) million", results[-1])[0],
    ),
    "By how many millions of dollars did Kestrel Instruments' total revenue grow from Q1 2025 to Q3 2025?": Recipe(
        "import re\n"
        "def total(q):\n"
        "    page = next(h.text for h in docs.search(f'total revenue {q}', k=5) if f'million for {q}' in h.text)\n"
        "    return float(re.search(rf'total revenue of\\s+\\$([\\d.]+) million for {q}', page)[1])\n"
        "answer = round(total('Q3 2025') - total('Q1 2025'), 1)\nprint(answer)",
        (("search", {"query": "total revenue Q1 2025"}), ("search", {"query": "total revenue Q3 2025"})),
        _totals,
    ),
}


def oracle(messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]) -> ToolReply:
    """The bundled suite's questions answered step by step; see the module's doc."""
    question = next((m.text for m in messages if m.role == "user"), "")
    if AGGREGATE_MARK in question:
        return _aggregate(sum(1 for m in messages if m.role == "assistant"))
    recipe = RECIPES.get(question)
    if recipe is None:
        return ToolReply("I don't know: scripted:oracle only knows the bundled suite's questions.")
    turn = sum(1 for m in messages if m.role == "assistant")
    results = [m.text for m in messages if m.role == "tool"]
    if any(t.name == "execute_code" for t in tools):
        if turn == 0:
            return ToolReply("", [ToolCall("call_1", "execute_code", {"code": recipe.code})])
        if turn == 1:
            return ToolReply("", [ToolCall("call_2", "submit", {"variable": "answer"})])
        return ToolReply("I could not find it: my code failed.")
    if turn < len(recipe.calls):
        name, arguments = recipe.calls[turn]
        return ToolReply("", [ToolCall(f"call_{turn + 1}", name, dict(arguments))])
    try:
        value = recipe.pick(results)
    except (IndexError, ValueError) as exc:
        return ToolReply(f"I could not find it ({exc}).")
    return ToolReply("", [ToolCall(f"call_{turn + 1}", "submit", {"value": value})])


#: The aggregator's code: the answer most rollouts gave, read from `runs`.
_VOTE = """from collections import Counter
print(runs)
votes = Counter(r.answer for r in runs if r.answer is not None)
answer = votes.most_common(1)[0][0]
print(answer)"""


def _aggregate(turn: int) -> ToolReply:
    """The aggregator (`--aggregate N`): a majority vote over the rollouts' answers, then submit."""
    if turn == 0:
        return ToolReply("", [ToolCall("call_1", "execute_code", {"code": _VOTE})])
    if turn == 1:
        return ToolReply("", [ToolCall("call_2", "submit", {"variable": "answer"})])
    return ToolReply("I could not aggregate: my code failed.")
