"""Sub-agents in the kernel: namespaces, the loop, validation and output isolation.

The models are scripted (ScriptedModel), defined in the kernel through execute_code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
from agent_helpers import SETUP, cell
from conftest import run, text_of
from mcp import Client

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
async def agents(client: Client) -> AsyncIterator[Client]:
    await cell(client, SETUP)
    yield client


async def test_an_agent_reads_the_parents_live_objects_and_hands_back_its_own(agents: Client) -> None:
    code = r"""
frame = {"rows": [1, 2]}
made = []
h = spawn_agent("Wrap the frame", inputs=["frame"],
                model=script("out = {'same': frame}\nmade.append(out)\nsubmit(out)"))
got = h.result(timeout=20)
print(got["same"] is frame, got is made[0], h.status, h.done())
"""
    assert await cell(agents, code) == "True True done True"


async def test_inputs_given_as_a_dict_are_the_same_objects_under_new_names(agents: Client) -> None:
    code = r"""
hits = [object(), object()]
hs = [spawn_agent("Look at the hit", inputs={"hit": x}, model=script("submit(hit)")) for x in hits]
print([a is b for a, b in zip(gather(*hs), hits)], "hit" in globals())
"""
    assert await cell(agents, code) == "[True, True] False"


async def test_assignments_in_an_agent_stay_in_the_agent(agents: Client) -> None:
    code = r"""
count = 1
table = [10, 20]
h = spawn_agent("Rebind", model=script(
    "count = 99\nnew_name = 5\n"
    "def total():\n    return sum(table) + count\n"
    "class Probe:\n    seen = table\n"
    "submit((total(), Probe.seen is table))"))
print(h.result(timeout=20), count, "new_name" in globals())
"""
    assert await cell(agents, code) == "(129, True) 1 False"


async def test_an_agent_sees_what_the_parent_rebinds_while_it_works(agents: Client) -> None:
    code = r"""
box = ["old"]
mine = "parent's"
gate = threading.Event()
def answer(messages, info):
    if info["turn"] == 1:
        return "```python\nmine = 'agent'\n```"
    gate.wait(10)  # the parent rebinds names meanwhile
    return "```python\nclass Probe:\n    seen = late\nsubmit((box[0], mine, Probe.seen))\n```"
h = spawn_agent("Read the box", model=ScriptedModel(answer))
box = ["new"]
mine = "parent's again"
late = "bound after the spawn"
gate.set()
print(h.result(timeout=20), mine)
"""
    assert await cell(agents, code) == "('new', 'agent', 'bound after the spawn') parent's again"


async def test_a_value_that_fails_validation_is_shown_to_the_model_which_fixes_it(agents: Client) -> None:
    code = r"""
h = spawn_agent("Numbers", returns=list[int], model=script("submit(['a', 'b'])", "submit([1, 2])"))
print(h.result(timeout=20), h.usage.model_calls)
print(h.transcript[0].output)
"""
    text = await cell(agents, code)
    assert text.startswith("[1, 2] 2\n")
    assert "SubmitError: The value does not match returns=list[int]" in text
    assert "Input should be a valid integer" in text


async def test_pydantic_models_dataclasses_and_json_schemas_validate_what_agents_submit(agents: Client) -> None:
    code = r"""
import dataclasses
from pydantic import BaseModel
class Revenue(BaseModel):
    quarter: str
    amount: float
@dataclasses.dataclass
class Point:
    x: int
    y: int
prompts = []
def answers(*blocks):
    def answer(messages, info):
        prompts.append(messages[0].content)
        return "```python\n" + blocks[min(info["turn"], len(blocks)) - 1] + "\n```"
    return ScriptedModel(answer)
m = spawn_agent("Revenue", returns=Revenue, model=answers("submit({'quarter': 'Q1', 'amount': '12.5'})"))
print(repr(m.result(timeout=20)), '"amount": {"title": "Amount", "type": "number"}' in prompts[-1])
d = spawn_agent("Point", returns=Point, model=answers("submit({'x': 1, 'y': 2})"))
print(d.result(timeout=20))
schema = {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}
j = spawn_agent("Count", returns=schema, model=answers("submit({'n': 'many'})", "submit({'n': 3})"))
print(j.result(timeout=20), '{"n": {"type": "integer"}}' in prompts[-1])
print(j.transcript[0].output)
"""
    text = await cell(agents, code)
    assert text.startswith("Revenue(quarter='Q1', amount=12.5) True\nPoint(x=1, y=2)\n{'n': 3} True\n")
    assert "does not match the schema" in text and "'many' is not of type 'integer'" in text


async def test_a_reply_without_code_gets_a_reminder(agents: Client) -> None:
    code = r"""
seen = []
def answer(messages, info):
    seen.append(messages[-1].content)
    return "Let me think about it." if info["turn"] == 1 else "```python\nsubmit('ok')\n```"
h = spawn_agent("Think", model=ScriptedModel(answer))
print(h.result(timeout=20), h.transcript[0].code == "")
print(seen[1])
"""
    text = await cell(agents, code)
    assert text.startswith("ok True\n")
    assert "no ```python block" in text


async def test_an_agent_that_never_submits_fails_after_max_turns(agents: Client) -> None:
    code = r"""
h = spawn_agent("Dawdle", max_turns=3, model=script("print('still looking')"))
try:
    h.result(timeout=20)
except AgentFailed as exc:
    print(exc)
print(h.status, len(h.transcript))
"""
    text = await cell(agents, code)
    assert "agent_" in text and "failed: it did not submit an answer within max_turns=3" in text
    assert text.endswith("failed 3")


async def test_a_model_that_fails_fails_the_agent_with_its_reason(agents: Client) -> None:
    code = r"""
def broken(messages, info):
    raise RuntimeError("quota exceeded")
h = spawn_agent("Anything", model=ScriptedModel(broken))
try:
    h.result(timeout=20)
except AgentFailed as exc:
    print(exc)
"""
    text = await cell(agents, code)
    assert text.endswith("failed: the model failed: scripted raised RuntimeError: quota exceeded")


async def test_an_exception_in_agent_code_is_an_observation_with_a_short_traceback(agents: Client) -> None:
    code = r"""
seen = []
def answer(messages, info):
    seen.append(messages[-1].content)
    if info["turn"] == 1:
        return "```python\ndef ratio(a, b):\n    return a / b\n\nratio(1, 0)\n```"
    return "```python\nsubmit('recovered')\n```"
h = spawn_agent("Divide", model=ScriptedModel(answer))
print(h.result(timeout=20))
print(seen[1])
"""
    text = await cell(agents, code)
    assert text.startswith("recovered\n")
    assert "turn 1, line 4, in <module>" in text and "turn 1, line 2, in ratio" in text
    assert "ZeroDivisionError: division by zero" in text
    assert "site-packages" not in text


async def test_submit_cannot_be_swallowed_by_except_exception(agents: Client) -> None:
    code = r"""
h = spawn_agent("Submit", model=script(
    "try:\n    submit(7)\nexcept Exception:\n    print('swallowed')\nprint('after')"))
print(h.result(timeout=20), repr(h.transcript[0].output))
"""
    assert await cell(agents, code) == "7 ''"


async def test_an_agents_prints_never_reach_the_parents_output_or_record(agents: Client) -> None:
    code = r"""
import sys
from IPython.display import display
h = spawn_agent("Talk", model=script(
    "for i in range(200):\n    print('agent-secret', i)\n"
    "print('agent-secret-err', file=sys.stderr)\ndisplay('agent-secret-display')\n"
    "t = threading.Thread(target=print, args=('agent-secret-thread',))\nt.start()\nt.join()\n'agent-secret-value'",
    "submit(len(history[-1].output))"))
print("parent-line")
n = h.result(timeout=20)
print("parent-done", n > 3000)
"""
    result = await run(agents, code)
    assert text_of(result) == "parent-line\nparent-done True"
    record = await cell(
        agents, "print(repr(history[-1].output))\nprint(_outputs[history[-1].number] == history[-1].output)"
    )
    assert "agent-secret" not in record and "parent-line" in record and record.endswith("True")
    transcript = await cell(agents, "print(h.transcript[0].output[-120:])")
    assert (
        "agent-secret 199\nagent-secret-err\n'agent-secret-display'\nagent-secret-thread\n'agent-secret-value'"
        in transcript
    )


async def test_prelude_names_work_inside_an_agent(agents: Client) -> None:
    code = r"""
h = spawn_agent("Look around", model=script(
    "print('help' in dir(), callable(memex_help), type(_outputs).__name__)\n"
    "submit((type(history).__name__, len(history), AgentFailed.__name__, submit.__doc__.split(',')[0]))"))
print(h.result(timeout=20))
print(h.transcript[0].output)
"""
    text = await cell(agents, code)
    assert text == "('History', 0, 'AgentFailed', 'Finish this agent with `value`')\nTrue True Outputs"


async def test_long_output_reaches_the_model_as_head_and_tail_within_the_budget(agents: Client) -> None:
    code = r"""
from memex_mcp.runtime import config
seen = []
def answer(messages, info):
    seen.append(messages[-1].content)
    if info["turn"] == 1:
        return "```python\nfor i in range(2000):\n    print('line', i)\n```"
    return "```python\nsubmit(len(history[0].output))\n```"
h = spawn_agent("Print a lot", model=ScriptedModel(answer))
print(h.result(timeout=20), len(seen[1]) <= config.load().output_limit)
print(seen[1].splitlines()[0], "|", seen[1].splitlines()[-1])
print([line for line in seen[1].splitlines() if "cut" in line])
"""
    lines = (await cell(agents, code)).splitlines()
    assert lines[0] == "18890 True"  # the full output: 2,000 lines of "line i"
    assert lines[1] == "line 0 | line 1999"
    assert "characters cut here; the full output is in history[0].output" in lines[2]


async def test_await_on_a_handle_gives_its_result(agents: Client) -> None:
    code = "h = spawn_agent('Answer', model=script('submit(41 + 1)'))\nawait h"
    assert await cell(agents, code) == "42"


async def test_list_scope_shows_agents_once(agents: Client) -> None:
    await cell(
        agents,
        "scout_handle = spawn_agent('Scout the area', name='scout', model=script('submit(1)'))\n"
        "scout_handle.result(timeout=20)",
    )
    result = await agents.call_tool("list_scope", {})
    listing = result.structured_content
    assert listing is not None
    agents_by_name = {e["name"]: e for e in listing["agents"]}
    assert agents_by_name["scout"]["type"] == "AgentHandle"
    assert agents_by_name["scout"]["summary"].startswith("done, turn 1/20, 1 model calls")
    assert "Scout the area" in agents_by_name["scout"]["summary"]
    assert "scout_handle" not in {e["name"] for e in listing["variables"]}
    assert any(line.startswith("scout") and "AgentHandle" in line for line in text_of(result).splitlines())
    filtered = await agents.call_tool("list_scope", {"pattern": "sc*"})
    assert filtered.structured_content is not None
    assert [e["name"] for e in filtered.structured_content["agents"]] == ["scout"]


async def test_the_kernel_default_model_can_be_set_from_code(agents: Client) -> None:
    code = r"""
from memex_mcp.runtime.models import set_default_model
set_default_model(script("submit('from the default')"))
print(spawn_agent("Use the default").result(timeout=20))
set_default_model(None)
"""
    with anyio.fail_after(30):
        assert await cell(agents, code) == "from the default"


async def test_agents_search_and_grep_the_documents_from_their_own_threads(agents: Client) -> None:
    code = r"""
import pathlib, tempfile
folder = pathlib.Path(tempfile.mkdtemp())
for topic in ("zebras", "walruses", "pelicans"):
    (folder / f"{topic}.md").write_text(f"# {topic}\n\nThe {topic} census counted many {topic} this year.\n")
docs.add(folder)
look = "hit = docs.search(topic)[0]\nsubmit((hit.doc.split('/')[-1], len(list(docs.grep(topic)))))"
hs = [spawn_agent("Find it", inputs={"topic": t}, model=script(look)) for t in ("zebras", "walruses", "pelicans")]
print(gather(*hs, timeout=30))
"""
    assert await cell(agents, code) == "[('zebras.md', 2), ('walruses.md', 2), ('pelicans.md', 2)]"


async def test_usage_counts_model_calls_tokens_and_wall_time(agents: Client) -> None:
    code = r"""
h = spawn_agent("Two turns", model=script("x = 2", "submit(x)"))
h.result(timeout=20)
u = h.usage
print(u.model_calls, u.input_tokens > 0, u.output_tokens > 0, u.wall_seconds > 0, h.status, h.done())
first = h.transcript[0]
print(len(h.transcript), first.text.startswith("Here goes."), first.code.strip(), repr(first.output))
"""
    assert await cell(agents, code) == "2 True True True done True\n2 True x = 2 ''"


async def test_the_model_gets_the_task_its_inputs_summaries_the_catalog_and_the_submit_contract(
    agents: Client,
) -> None:
    code = r"""
from memex_mcp.runtime.catalog import CATALOG
seen = []
def remember(messages, info):
    seen.append(messages)
    return "```python\nsubmit(len(cities))\n```"
cities = ["Oslo", "Lima", "Pune"]
h = spawn_agent("Count the cities", inputs=["cities"], returns=int, model=ScriptedModel(remember))
print(h.result(timeout=20))
system = "\n".join(m.content for m in seen[0] if m.role == "system")
everything = "\n".join(m.content for m in seen[0])
print("Count the cities" in everything, "- cities: list, len 3" in system, CATALOG in system,
      "submit(value)" in system, '"type": "integer"' in system)
"""
    assert await cell(agents, code) == "3\nTrue True True True True"
