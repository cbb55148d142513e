"""The document index across refreshes, kernels and sessions: only changed files are extracted again,
and a search that has to wait for indexing says so in progress notifications."""

from __future__ import annotations

import contextlib
from pathlib import Path

import anyio
import pytest
from conftest import STATE_DIR, run, settings, text_of
from mcp import Client

from memex_mcp.runtime.documents.corpus import INDEX_FILE
from memex_mcp.runtime.documents.index import BuildLock
from memex_mcp.server import Settings, build_server

pytestmark = pytest.mark.anyio


def server(data_dir: Path) -> Client:
    return Client(build_server(settings(timeout=60, data_dirs=(data_dir,))), raise_exceptions=True)


async def output(client: Client, code: str) -> str:
    result = await run(client, code)
    assert not result.is_error, text_of(result)
    return text_of(result)


async def test_only_new_and_changed_files_are_extracted_again_in_this_kernel_and_the_next(
    anyio_backend: str, tmp_path: Path
) -> None:
    (tmp_path / "a.md").write_text("# Apricots\n\nApricot trees flower early.")
    (tmp_path / "b.html").write_text("<p>Blueberries need acid soil.</p>")
    (tmp_path / "c.txt").write_text("Cherries ripen in June.")
    async with server(tmp_path) as client:
        assert "3 extracted, 0 unchanged since cached" in await output(client, "len(docs), docs")
        (tmp_path / "c.txt").write_text("Cranberries grow in bogs and ripen in October.")
        (tmp_path / "d.txt").write_text("Dates grow on palms.")
        assert "2 extracted, 2 unchanged since cached" in await output(client, "docs.refresh()")
        assert await output(client, "docs.search('cranberries bogs')[0].doc") == "'c.txt'"
        assert await output(client, "len(docs.search('cherries'))") == "0"
        (tmp_path / "b.html").unlink()
        assert "3 files" in await output(client, "docs.refresh()")
        assert await output(client, "sorted(docs.list().id)") == "['a.md', 'c.txt', 'd.txt']"
    async with server(tmp_path) as client:  # a new kernel finds them all in the shared cache
        assert "0 extracted, 3 unchanged since cached" in await output(client, "len(docs), docs")
        assert await output(client, "docs.search('palms')[0].text") == "'Dates grow on palms.'"


async def test_a_search_waiting_for_another_sessions_indexing_reports_progress(
    anyio_backend: str, tmp_path: Path
) -> None:
    for n in range(40):
        (tmp_path / f"note_{n:02}.md").write_text(f"# Note {n}\n\nThis is note number {n} about topic t{n}.")
    seen: list[tuple[float, float | None, str | None]] = []
    another_session = contextlib.ExitStack()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))
        another_session.close()  # the other session is done: indexing can go on

    with another_session:
        another_session.enter_context(BuildLock(STATE_DIR / "cache" / INDEX_FILE).held())
        async with server(tmp_path) as client:
            with anyio.fail_after(60):
                result = await client.call_tool(
                    "execute_code", {"code": "docs.search('topic t17')[0].doc"}, progress_callback=on_progress
                )
    assert text_of(result) == "'note_17.md'"
    assert seen and seen[0][2] == "waiting for another session that is indexing the same cache"
    values = [progress for progress, _, _ in seen]
    assert values == sorted(values)


async def test_two_sessions_on_one_data_dir_index_it_once_and_both_search_it(
    anyio_backend: str, tmp_path: Path
) -> None:
    for n in range(12):
        (tmp_path / f"page_{n:02}.txt").write_text(f"Shared page {n} mentions the keyword k{n}.")
    async with server(tmp_path) as first, server(tmp_path) as second:
        answers = {}

        async def ask(name: str, client: Client) -> None:
            answers[name] = await output(client, "print(docs.search('k7')[0].doc, repr(docs).count('12 extracted'))")

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(ask, "first", first)
            tasks.start_soon(ask, "second", second)
    assert sorted(answers.values()) == ["page_07.txt 0", "page_07.txt 1"]


async def test_a_session_finds_only_its_own_documents_though_the_cache_holds_better_matches(
    anyio_backend: str, tmp_path: Path
) -> None:
    other, mine = tmp_path / "other", tmp_path / "mine"
    other.mkdir(), mine.mkdir()
    for n in range(45):
        (other / f"zebra_{n:02}.txt").write_text("Zebra zebra zebras: a zebra herd. " * 3)
    (mine / "savanna.txt").write_text("A long text about the savanna, its grasses and rains, and once a zebra.")
    async with server(other) as client:
        assert await output(client, "len(docs.search('zebra', k=50))") == "45"
    async with server(mine) as client:
        assert await output(client, "[h.doc for h in docs.search('zebra')]") == "['savanna.txt']"
        assert await output(client, "len(docs.grep('(?i)zebra'))") == "1"


async def test_a_corrupt_cache_is_rebuilt(anyio_backend: str, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("Aardvarks dig burrows.")
    (tmp_path / "state" / "cache").mkdir(parents=True)
    (tmp_path / "state" / "cache" / INDEX_FILE).write_bytes(b"this is not a database" * 100)
    settings_ = Settings(state_dir=tmp_path / "state", data_dirs=(tmp_path / "data",))
    async with Client(build_server(settings_), raise_exceptions=True) as client:
        assert await output(client, "docs.search('aardvarks')[0].doc") == "'a.txt'"


async def test_a_linked_directory_is_read_by_docs_and_the_views_alike_and_a_link_loop_once(
    anyio_backend: str, tmp_path: Path
) -> None:
    data, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "b.txt").write_text("Badgers sleep by day.")
    (data / "sub" / "back").symlink_to(data, target_is_directory=True)
    elsewhere.mkdir()
    (elsewhere / "c.md").write_text("Cormorants dive.")
    (elsewhere / "counts.csv").write_text("n\n1\n2\n")
    (data / "linked").symlink_to(elsewhere, target_is_directory=True)
    async with server(data) as client:
        assert await output(client, "list(docs.list().id)") == "['linked/c.md', 'sub/b.txt']"
        assert await output(client, "print(sql('select count(*) from counts').fetchall())") == "[(2,)]"
