"""The viewer's JSON API over real HTTP: `/ui` on a real `memex-mcp --transport http` server whose
scratchpad ran a scripted session (a data query, a document search, a cut reply, three sub-agents,
one failing, one nested), and the same session through a real `memex-mcp ui` process."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx2
import pytest
from agent_helpers import SETUP
from test_http import TOKENS, Server, call, connect, free_port, handle_in, serving

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(180)]

UI_TOKEN = "viewer-token-0123456789abcdef"

#: The scripted session: each cell must succeed.
CELLS = [
    "sales = sql('select * from sales order by region').df()\nprint(sales)",
    "hits = docs.search('kernel memory')\nprint(hits[0].doc, hits[0].page)",
    "print('\\n'.join(f'line {i:05d} ' + 'x' * 60 for i in range(400)))",
    "from PIL import Image\npicture = Image.new('RGB', (800, 400), 'red')\nreport = 'word ' * 2000",
    SETUP,
    # Three sub-agents: `counter` starts `summariser` (nested), and `doomed` fails.
    """
inner = script("print('summarising')", "submit('4 regions')")
outer = script(
    "h = spawn_agent('Summarise the sales', inputs=['sales'], model=inner, name='summariser')\\n"
    "print(h.result(timeout=30))",
    "submit(len(sales))",
)
counter = spawn_agent('Count the sales rows', inputs=['sales'], model=outer, name='counter')
doomed = spawn_agent('Find 2019', model=script("raise ValueError('no data for 2019')"), max_turns=1, name='doomed')
wait_until(lambda: counter.done() and doomed.done() and len(counter.children) == 1 and counter.children[0].done(), 30)
print(counter.status, doomed.status, doomed.reason)
""",
]


def write_data(root: Path) -> Path:
    data = root / "data"
    data.mkdir()
    rows = ["region,amount"] + [f"{r},{a}" for r, a in [("north", 120), ("south", 80), ("east", 95), ("west", 60)]]
    (data / "sales.csv").write_text("\n".join(rows) + "\n")
    (data / "notes.md").write_text("# Notes\n\nThe kernel keeps the memory of the session.\n")
    return data


@dataclass
class Viewed:
    server: Server
    handle: str
    bob_handle: str

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"


async def run_session(server: Server, cells: list[str]) -> str:
    """Run `cells` as alice in her scratchpad; its handle."""
    async with connect(server, "alice", "legacy") as client:
        handle = ""
        for code in cells:
            text, error = await call(client, "execute_code", code=code)
            assert not error, text
            handle = handle_in(text)
    return handle


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def viewing(root: Path, *, bob: bool = False) -> AsyncIterator[Viewed]:
    """A server whose scratchpad ran `CELLS` (and, with `bob`, another principal's one cell), once
    the kernel's feed has described the scope: it does so when the kernel is idle."""
    options = ("--sandbox", "none", "--data-dir", str(write_data(root)), "--output-limit", "2000")
    with serving(root / "state", *options) as server:
        handle = await run_session(server, CELLS)
        bob_handle = ""
        if bob:
            async with connect(server, "bob", "legacy") as client:
                text, _ = await call(client, "execute_code", code="mine = 1")
            bob_handle = handle_in(text)
        viewed = Viewed(server, handle, bob_handle)
        await described(viewed, {"sales", "hits", "picture", "report", "counter", "doomed"})
        yield viewed


async def described(viewed: Viewed, names: set[str], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        scope = get(viewed, f"/ui/api/sessions/{viewed.handle}").json()["scope"]
        if scope["source"] == "feed" and names <= {v["name"] for v in scope["variables"]}:
            return
        assert time.monotonic() < deadline, f"the feed never described {names}: {scope}"
        await anyio.sleep(0.1)


@pytest.fixture(scope="module")
async def viewed(tmp_path_factory: pytest.TempPathFactory, anyio_backend: str) -> AsyncIterator[Viewed]:
    async with viewing(tmp_path_factory.mktemp("ui"), bob=True) as viewed:
        yield viewed


def get(viewed: Viewed, path: str, token: str | None = TOKENS["alice"]) -> httpx2.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx2.get(viewed.base + path, headers=headers, timeout=10)


async def test_the_viewer_and_its_api_answer_401_without_a_token(viewed: Viewed) -> None:
    assert get(viewed, "/ui/", token=None).status_code == 401
    assert "token" in get(viewed, "/ui/", token=None).text
    for path in ("/ui/api/sessions", f"/ui/api/sessions/{viewed.handle}", f"/ui/api/sessions/{viewed.handle}/history"):
        assert get(viewed, path, token=None).status_code == 401
        assert get(viewed, path, token="not-a-token-0123456789").status_code == 401


async def test_a_principal_lists_only_its_own_scratchpads(viewed: Viewed) -> None:
    alice = get(viewed, "/ui/api/sessions").json()
    bob = get(viewed, "/ui/api/sessions", token=TOKENS["bob"]).json()
    assert [s["id"] for s in alice["sessions"]] == [viewed.handle]
    assert [s["id"] for s in bob["sessions"]] == [viewed.bob_handle]
    assert alice["principal"] == "alice"
    mine = alice["sessions"][0]
    assert (mine["kind"], mine["live"], mine["executions"], mine["agents"]) == ("scratchpad", True, len(CELLS), 3)


async def test_another_principals_session_answers_as_one_that_does_not_exist(viewed: Viewed) -> None:
    for suffix in ("", "/history", "/history/1/output", "/agents/1"):
        foreign = get(viewed, f"/ui/api/sessions/{viewed.handle}{suffix}", token=TOKENS["bob"])
        missing = get(viewed, f"/ui/api/sessions/sp-0000000000000000{suffix}", token=TOKENS["bob"])
        assert missing.status_code == 404
        assert (foreign.status_code, foreign.content) == (missing.status_code, missing.content)


async def test_the_session_shows_its_scope_with_a_dataframe_preview(viewed: Viewed) -> None:
    body = get(viewed, f"/ui/api/sessions/{viewed.handle}").json()
    variables = {v["name"]: v for v in body["scope"]["variables"]}
    sales = variables["sales"]
    assert sales["type"] == "DataFrame"
    assert sales["preview"]["kind"] == "table"
    assert sales["preview"]["columns"] == ["region", "amount"]
    assert sales["preview"]["rows"][0] == ["0", "east", "95"]
    assert sales["summary"].startswith("4×2")
    assert {"hits", "counter", "doomed"} <= variables.keys()


async def test_the_scope_shows_an_image_as_a_thumbnail_and_a_text_by_its_start(viewed: Viewed) -> None:
    from PIL import Image

    variables = {v["name"]: v for v in get(viewed, f"/ui/api/sessions/{viewed.handle}").json()["scope"]["variables"]}
    picture = variables["picture"]["preview"]
    assert (picture["kind"], picture["mime"]) == ("image", "image/png")
    with Image.open(io.BytesIO(base64.b64decode(picture["data"]))) as thumbnail:
        assert thumbnail.size == (320, 160)
    report = variables["report"]["preview"]
    assert (report["kind"], report["chars"], report["text"]) == ("text", 10_000, "word " * 800)


async def test_the_history_pairs_each_full_output_with_the_cut_reply_the_model_was_sent(viewed: Viewed) -> None:
    body = get(viewed, f"/ui/api/sessions/{viewed.handle}/history").json()
    assert body["total"] == len(CELLS)
    big = next(e for e in body["executions"] if "line {i:05d}" in e["code"])
    assert big["output_chars"] == 400 * 72
    assert big["output"].count("\n") == 400
    (sent,) = big["sent"]
    assert sent["cut"] is True
    assert sent["chars"] <= 2000 + 200
    assert f"the full output is in _outputs[{big['number']}]" in sent["text"]
    whole = get(viewed, f"/ui/api/sessions/{viewed.handle}/history/{big['number']}/output")
    assert whole.text == big["output"]
    first = body["executions"][-1]
    assert first["number"] == 1 and "north" in first["output"] and first["sent"][0]["cut"] is False


async def test_the_totals_compare_characters_sent_with_characters_kept(viewed: Viewed) -> None:
    totals = get(viewed, f"/ui/api/sessions/{viewed.handle}").json()["totals"]
    history = get(viewed, f"/ui/api/sessions/{viewed.handle}/history").json()["executions"]
    assert totals["kept_chars"] == sum(e["output_chars"] for e in history)
    assert totals["sent_chars"] == sum(s["chars"] for e in history for s in e["sent"])
    assert totals["sent_chars"] < totals["kept_chars"]
    assert (totals["executions"], totals["agents"], totals["agents_running"]) == (len(CELLS), 3, 0)


async def test_the_agent_tree_nests_agents_and_gives_the_failure_and_its_reason(viewed: Viewed) -> None:
    tree = get(viewed, f"/ui/api/sessions/{viewed.handle}").json()["agents"]
    assert [(a["name"], a["status"]) for a in tree] == [("counter", "done"), ("doomed", "failed")]
    (child,) = tree[0]["children"]
    assert (child["name"], child["status"], child["inputs"]) == ("summariser", "done", ["sales"])
    assert "max_turns=1" in tree[1]["reason"]
    assert tree[0]["usage"]["model_calls"] == 2 and tree[0]["usage"]["input_tokens"] > 0
    record = get(viewed, f"/ui/api/sessions/{viewed.handle}/agents/{child['id']}").json()
    assert record["result"] == "'4 regions'"
    assert [t["output"] for t in record["transcript"]] == ["summarising\n", ""]
    doomed = get(viewed, f"/ui/api/sessions/{viewed.handle}/agents/{tree[1]['id']}").json()
    assert "ValueError: no data for 2019" in doomed["transcript"][0]["output"]


async def test_an_unchanged_session_answers_304_to_its_etag(viewed: Viewed) -> None:
    first = get(viewed, f"/ui/api/sessions/{viewed.handle}")
    again = httpx2.get(
        f"{viewed.base}/ui/api/sessions/{viewed.handle}",
        headers={"Authorization": f"Bearer {TOKENS['alice']}", "If-None-Match": first.headers["etag"]},
        timeout=10,
    )
    assert again.status_code == 304


async def test_the_token_in_the_link_becomes_an_httponly_strict_cookie(viewed: Viewed) -> None:
    with httpx2.Client(base_url=viewed.base, timeout=10) as browser:
        login = browser.get("/ui/", params={"token": TOKENS["alice"]})
        assert login.status_code == 303 and login.headers["location"] == "/ui/"
        cookie = login.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ui" in cookie
        assert browser.get("/ui/").status_code == 200
        assert browser.get("/ui/api/sessions").json()["sessions"][0]["id"] == viewed.handle


async def test_a_foreign_host_or_origin_is_refused(viewed: Viewed) -> None:
    auth = {"Authorization": f"Bearer {TOKENS['alice']}"}
    rebound = httpx2.get(f"{viewed.base}/ui/api/sessions", headers={**auth, "Host": "evil.example:80"}, timeout=10)
    assert rebound.status_code == 421
    evil = {**auth, "Origin": "http://evil.example"}
    foreign = httpx2.get(f"{viewed.base}/ui/api/sessions", headers=evil, timeout=10)
    assert foreign.status_code == 403


@pytest.fixture(scope="module")
def ui_process(viewed: Viewed) -> Iterator[str]:
    port = free_port()
    log = viewed.server.state_dir.parent / "ui.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "memex_mcp", "ui", "--state-dir", str(viewed.server.state_dir), "--port", str(port)],
            env={**os.environ, "MEMEX_TOKEN": UI_TOKEN},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                httpx2.get(base + "/ui/", timeout=1)
                break
            except httpx2.TransportError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


async def test_the_ui_command_shows_every_session_of_the_state_dir_to_its_token(
    ui_process: str, viewed: Viewed
) -> None:
    assert httpx2.get(ui_process + "/ui/api/sessions", timeout=10).status_code == 401
    assert httpx2.get(ui_process + "/ui/", timeout=10).status_code == 401
    auth = {"Authorization": f"Bearer {UI_TOKEN}"}
    listed = httpx2.get(ui_process + "/ui/api/sessions", headers=auth, timeout=10).json()
    assert {s["id"] for s in listed["sessions"]} == {viewed.handle, viewed.bob_handle}
    body = httpx2.get(f"{ui_process}/ui/api/sessions/{viewed.handle}", headers=auth, timeout=10).json()
    assert body["live"] is True  # the HTTP server holds it
    assert body["totals"]["agents"] == 3
    missing = httpx2.get(f"{ui_process}/ui/api/sessions/..%2Fscratchpads.json", headers=auth, timeout=10)
    assert missing.status_code == 404


async def test_an_agent_left_running_by_a_server_that_is_gone_is_shown_as_lost(ui_process: str, viewed: Viewed) -> None:
    saved = viewed.server.state_dir / "sessions" / "yesterday" / "view" / "agents"
    saved.mkdir(parents=True)
    record = {"id": 1, "name": "agent_1", "parent": None, "status": "running", "reason": "", "transcript": []}
    (saved / "1.json").write_text(json.dumps(record))
    auth = {"Authorization": f"Bearer {UI_TOKEN}"}
    body = httpx2.get(f"{ui_process}/ui/api/sessions/yesterday", headers=auth, timeout=10).json()
    assert body["live"] is False
    assert [(a["name"], a["status"]) for a in body["agents"]] == [("agent_1", "lost")]
    assert body["totals"]["agents_running"] == 0


async def test_the_ui_command_refuses_a_state_dir_without_sessions_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from memex_mcp.ui.serve import main as ui_main

    with pytest.raises(SystemExit) as exited:
        ui_main(["--state-dir", str(tmp_path / "nowhere")])
    assert exited.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "no sessions there yet" in line and "--state-dir" in line


async def test_a_link_planted_in_a_session_to_a_file_outside_it_is_not_followed(
    ui_process: str, viewed: Viewed, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"id": 1, "name": "secret", "status": "done", "transcript": []}))
    agents = viewed.server.state_dir / "sessions" / "planted" / "view" / "agents"
    agents.mkdir(parents=True)
    (agents / "1.json").symlink_to(secret)
    auth = {"Authorization": f"Bearer {UI_TOKEN}"}
    body = httpx2.get(f"{ui_process}/ui/api/sessions/planted", headers=auth, timeout=10).json()
    assert body["agents"] == []
    assert httpx2.get(f"{ui_process}/ui/api/sessions/planted/agents/1", headers=auth, timeout=10).status_code == 404
