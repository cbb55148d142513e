"""DuckDB in the kernel: `db`, `sql()`, `tables()`, and the data dirs' files as views."""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import run, settings, text_of
from mcp import Client
from openpyxl import Workbook

from memex_mcp.runtime.data.names import identifier, unique
from memex_mcp.server import build_server
from memex_mcp.server.cli import _parser, parse

pytestmark = pytest.mark.anyio


def write_xlsx(path: Path, rows: list[tuple[object, ...]], second_sheet: bool = True) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "stores"
    sheet.append(["store_id", "city", "opened"])
    for row in rows:
        sheet.append(list(row))
    if second_sheet:
        targets = book.create_sheet("Targets 2024")
        targets.append(["store_id", "target"])
        targets.append([1, 1000.5])
    book.save(path)


def make_data_dir(corrupt: bool = False) -> Path:
    """Real files of every kind, names that need mangling, a collision, and optionally a corrupt file."""
    root = Path(tempfile.mkdtemp(prefix="memex-data-"))
    pd.DataFrame({"region": ["north", "south", "east"], "amount": [10.5, 20.0, 7.25]}).to_csv(
        root / "sales_2024.csv", index=False
    )
    (root / "Q3 report-final.csv").write_text("quarter,revenue\nQ3,1200\n")
    (root / "order.csv").write_text("id\n1\n2\n")  # a reserved word
    (root / "ratings.tsv").write_text("film\tstars\nAlien\t5\nHeat\t4\n")
    pq.write_table(
        pa.table({"id": list(range(1000)), "sku": [f"S{i % 7}" for i in range(1000)]}), root / "lines.parquet"
    )
    (root / "nested").mkdir()
    pq.write_table(pa.table({"x": [1, 2]}), root / "nested" / "sales_2024.parquet")  # collides with the CSV
    (root / "events.jsonl").write_text("".join(json.dumps({"kind": k, "n": i}) + "\n" for i, k in enumerate("abcd")))
    (root / "config.json").write_text(json.dumps([{"key": "a", "value": 1}, {"key": "b", "value": 2}]))
    write_xlsx(root / "stores.xlsx", [(1, "Berlin", dt.date(2020, 1, 2)), (2, "Paris", dt.date(2021, 3, 4))])
    (root / "notes.md").write_text("# not a table\n")
    if corrupt:
        (root / "broken.parquet").write_bytes(b"PAR1 this is not a parquet file at all " * 20)
        (root / "broken.xlsx").write_bytes(b"PK\x03\x04 not a zip archive")
    return root


@pytest.fixture(scope="module")
def data_dir() -> Path:
    return make_data_dir()


@pytest.fixture(scope="module")
async def client(anyio_backend: str, data_dir: Path) -> AsyncIterator[Client]:
    async with Client(
        build_server(settings(timeout=60, data_dirs=(data_dir,), output_limit=4000)), raise_exceptions=True
    ) as c:
        yield c


async def value(client: Client, code: str) -> str:
    result = await run(client, code)
    assert not result.is_error, text_of(result)
    return text_of(result)


async def test_each_file_type_becomes_a_view_named_after_the_file(client: Client) -> None:
    code = (
        "print(sql('select sum(amount) from sales_2024').fetchall(), sql('select count(*) from lines').fetchall(),"
        " sql('select string_agg(kind, \\'\\' order by n) from events').fetchall(),"
        " sql('select sum(value) from config').fetchall(), sql('select max(stars) from ratings').fetchall(),"
        " sql('select city from stores order by store_id').fetchall())"
    )
    assert await value(client, code) == ("[(37.75,)] [(1000,)] [('abcd',)] [(3,)] [(5,)] [('Berlin',), ('Paris',)]")


async def test_names_are_made_identifiers_and_tables_maps_each_view_to_its_file(client: Client, data_dir: Path) -> None:
    listing = await value(client, "for t in tables(): print(t.name, t.kind, len(t.columns), t.rows, t.source, sep='|')")
    rows = {line.split("|")[0]: line.split("|")[1:] for line in listing.splitlines()}
    assert rows["q3_report_final"] == ["view", "2", "1", str(data_dir / "Q3 report-final.csv")]
    assert rows["order_"] == ["view", "1", "2", str(data_dir / "order.csv")]
    assert rows["sales_2024"][3] == str(data_dir / "sales_2024.csv")
    assert rows["sales_2024_2"] == ["view", "1", "2", str(data_dir / "nested" / "sales_2024.parquet")]
    assert rows["lines"] == ["view", "2", "1000", str(data_dir / "lines.parquet")]
    assert rows["stores"] == ["view", "3", "2", f"{data_dir / 'stores.xlsx'} [stores]"]
    assert rows["stores_targets_2024"] == ["view", "2", "1", f"{data_dir / 'stores.xlsx'} [Targets 2024]"]
    assert "notes" not in rows
    assert await value(client, "print(sql('select * from q3_report_final').fetchall())") == "[('Q3', 1200)]"


async def test_help_shows_the_database_and_which_file_each_view_reads(client: Client, data_dir: Path) -> None:
    await value(client, "tables()")  # loading is done
    text = await value(client, "help()")
    assert "sql(query, params=None)" in text and "tables()" in text
    assert f"q3_report_final      {data_dir / 'Q3 report-final.csv'}" in text
    assert "memex.duckdb" in text


async def test_tables_prints_one_line_per_table(client: Client) -> None:
    await value(client, "sql('create or replace table made_here as select 1 as a, 2 as b')")
    text = await value(client, "tables()")
    assert text.splitlines()[0].split() == ["name", "kind", "rows", "columns", "(name:type)"]
    assert any(line.split() == ["made_here", "table", "1", "a:INTEGER,", "b:INTEGER"] for line in text.splitlines())


async def test_a_dataframe_in_scope_is_a_table_by_its_name(client: Client) -> None:
    await value(client, "import pandas as pd\nframe = pd.DataFrame({'a': [1, 2, 3]})")
    assert await value(client, "print(sql('select sum(a) from frame').fetchall())") == "[(6,)]"
    in_function = (
        "def total():\n    local_frame = pd.DataFrame({'b': [10, 20]})\n"
        "    return sql('select sum(b) + (select sum(a) from frame) from local_frame').fetchall()\nprint(total())"
    )
    assert await value(client, in_function) == "[(36,)]"
    # Sub-agents run code with a namespace of their own.
    exec_code = (
        "ns = {'sql': sql, 'pd': pd}\n"
        "exec(\"mine = pd.DataFrame({'c': [4, 5]})\\nout = sql('select sum(c) from mine').fetchall()\", ns)\n"
        "print(ns['out'])"
    )
    assert await value(client, exec_code) == "[(9,)]"


async def test_params_fill_placeholders(client: Client) -> None:
    assert await value(client, "print(sql('select ? + 1', params=[41]).fetchall())") == "[(42,)]"
    assert await value(client, "print(sql('select $name', params={'name': 'ok'}).fetchall())") == "[('ok',)]"


async def test_db_is_the_duckdb_connection_once_loaded(client: Client) -> None:
    await value(client, "tables()")
    assert await value(client, "print(type(db).__name__, db.sql('select 7').fetchall())") == "DuckDBPyConnection [(7,)]"


async def test_sql_errors_are_tool_errors_with_duckdb_message_and_no_library_frames(client: Client) -> None:
    result = await run(client, "sql('SELEC 1')")
    assert result.is_error
    text = text_of(result)
    assert 'duckdb.ParserException: Parser Error: syntax error at or near "SELEC"' in text
    assert "memex_mcp" not in text and "site-packages" not in text and "<memex sql>" not in text

    result = await run(client, "sql('select * from no_such_table')")
    assert result.is_error
    text = text_of(result)
    assert "duckdb.CatalogException: Catalog Error: Table with name no_such_table does not exist!" in text
    assert "Tables and views: " in text and "q3_report_final" in text and "sales_2024_2" in text
    assert "memex_mcp" not in text


async def test_a_million_row_result_stays_in_a_variable_and_prints_a_small_preview(client: Client) -> None:
    text = await value(client, "big = sql('select range as i, range % 7 as k from range(1000000)')\nbig")
    assert len(text) < 2000
    assert "rows" in text and "999999" not in text
    assert await value(client, "frame = big.df()\nprint(frame.shape)") == "(1000000, 2)"


async def test_a_changed_workbook_is_read_again(client: Client, data_dir: Path) -> None:
    assert await value(client, "print(sql('select count(*) from stores').fetchall())") == "[(2,)]"
    rows: list[tuple[object, ...]] = [(i, f"City {i}", dt.date(2022, 1, 1)) for i in range(5)]
    write_xlsx(data_dir / "stores.xlsx", rows, second_sheet=False)
    os.utime(data_dir / "stores.xlsx", ns=(1, 1_700_000_000_000_000_000))  # a new mtime, whatever the clock
    assert await value(client, "print(sql('select count(*) from stores').fetchall())") == "[(5,)]"
    # The sheet that is gone takes its view with it.
    result = await run(client, "sql('select * from stores_targets_2024')")
    assert result.is_error and "CatalogException" in text_of(result)


async def test_a_changed_workbook_is_read_again_by_a_thread_while_the_main_connection_is_busy(
    client: Client, data_dir: Path, tmp_path: Path
) -> None:
    await value(client, "tables()")
    write_xlsx(data_dir / "stores.xlsx", [(i, f"Town {i}", dt.date(2023, 1, 1)) for i in range(3)], second_sheet=False)
    os.utime(data_dir / "stores.xlsx", ns=(1, 1_800_000_000_000_000_000))
    pipe = tmp_path / "held.csv"
    os.mkfifo(pipe)
    # `db` reads the pipe (opened once: no sniffing); the thread's sql() runs only once that read has
    # begun (opening a pipe's writing end waits for its reader), then lets the read end.
    code = (
        "import threading\nseen = []\n"
        "def query_then_feed():\n"
        f"    with open({str(pipe)!r}, 'w') as feed:\n"
        "        seen.append(sql('select count(*) from stores').fetchall())\n"
        "        feed.write('1\\n')\n"
        "worker = threading.Thread(target=query_then_feed)\nworker.start()\n"
        f"rows = db.sql(\"select count(*) from read_csv('{pipe}', columns={{'a': 'INTEGER'}}, auto_detect=false)\")\n"
        "print(rows.fetchall(), seen)\nworker.join()"
    )
    with anyio.fail_after(60):
        assert await value(client, code) == "[(1,)] [[(3,)]]"


async def test_a_corrupt_file_is_reported_once_and_the_others_load(anyio_backend: str) -> None:
    data_dir = make_data_dir(corrupt=True)
    async with Client(build_server(settings(data_dirs=(data_dir,))), raise_exceptions=True) as client:
        first = await value(client, "print(sql('select count(*) from lines').fetchall())")
        assert f"memex: skipped the data file {data_dir / 'broken.parquet'}: InvalidInputException:" in first
        assert f"memex: skipped the data file {data_dir / 'broken.xlsx'}: BadZipFile:" in first
        assert first.endswith("[(1000,)]")
        second = await value(client, "print(sql('select count(*) from events').fetchall())")
        assert second == "[(4,)]"
        assert "broken" not in await value(client, "print([t.name for t in tables()])")
        assert f"skipped {data_dir / 'broken.parquet'}" in await value(client, "help()")


async def test_a_table_created_with_sql_survives_a_kernel_restart(anyio_backend: str, data_dir: Path) -> None:
    async with Client(
        build_server(settings(session="sql-restart", data_dirs=(data_dir,))), raise_exceptions=True
    ) as client:
        await value(client, "sql('create or replace table kept as select 42 as answer')")
        died = await run(client, "import os\nos.kill(os.getpid(), 9)")
        assert "died" in text_of(died)
        with anyio.fail_after(60):
            after = await value(client, "print(sql('select answer from kept').fetchall(), 'kept' in globals())")
        assert after == "[(42,)] False"
        assert await value(client, "print(sql('select count(*) from lines').fetchall())") == "[(1000,)]"


async def test_a_timeout_stops_a_running_query_and_the_kernel_keeps_its_state(client: Client) -> None:
    await value(client, "kept_through_interrupt = 5")
    with anyio.fail_after(30):
        result = await run(client, "sql('select sum(range) from range(100000000000)').fetchall()", timeout=1)
    assert result.is_error and "The kernel kept its state." in text_of(result)
    assert await value(client, "print(kept_through_interrupt)") == "5"


@pytest.mark.parametrize(
    ("stem", "name"),
    [
        ("sales_2024", "sales_2024"),
        ("Q3 report-final", "q3_report_final"),
        ("order", "order_"),
        ("2024 sales", "t_2024_sales"),
        ("___", "data"),
        ("Überblick Ø", "uberblick"),
        ("销售", "data"),
    ],
)
def test_file_names_become_identifiers(stem: str, name: str) -> None:
    assert identifier(stem) == name


def test_a_taken_name_gets_the_first_free_suffix() -> None:
    assert unique("sales", {"Sales", "sales_2", "orders"}) == "sales_3"


def test_the_cli_no_longer_says_data_dirs_arrive_later(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    _, parsed = parse(["--data-dir", str(data_dir)])
    assert parsed.data_dirs == (data_dir,)
    assert capsys.readouterr().err == ""
    assert "later version" not in _parser().format_help().split("--data-dir", 1)[1].split("--state-dir")[0]


@pytest.mark.parametrize(
    ("code", "printed"),
    [
        ("print(sql('select 42').fetchall())", "[(42,)]"),
        (
            "import duckdb\nprint(isinstance(db, duckdb.DuckDBPyConnection), db.sql('select 42').fetchall())",
            "True [(42,)]",
        ),
    ],
)
async def test_a_cell_that_uses_the_database_waits_for_loading_reporting_progress(
    anyio_backend: str, code: str, printed: str
) -> None:
    # A named pipe holds the loader at this file until the test writes it: the wait is certain.
    data_dir = Path(tempfile.mkdtemp(prefix="memex-data-"))
    pipe = data_dir / "slow.csv"
    os.mkfifo(pipe)
    messages: list[str | None] = []

    def feed() -> None:
        with pipe.open("w") as f:
            f.write("a,b\n1,2\n")

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message)
        # Opening the database may be reported first; the loader waits at the pipe until fed.
        if messages.count("loading data files: slow.csv") == 1 and message == "loading data files: slow.csv":
            await anyio.to_thread.run_sync(feed)

    async with Client(build_server(settings(data_dirs=(data_dir,))), raise_exceptions=True) as client:
        with anyio.fail_after(60):
            result = await client.call_tool("execute_code", {"code": code}, progress_callback=on_progress)
        assert text_of(result) == printed
        assert "loading data files: slow.csv" in messages
        assert set(messages) <= {f"loading data files: {step}" for step in ("opening the database", "slow.csv", "done")}


async def test_a_wait_for_loading_that_times_out_leaves_the_loading_to_finish(anyio_backend: str) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="memex-data-"))
    pipe = data_dir / "slow.csv"
    os.mkfifo(pipe)  # holds the loader at this file until the test writes it

    def feed() -> None:
        with pipe.open("w") as f:
            f.write("a,b\n1,2\n")

    async with Client(build_server(settings(data_dirs=(data_dir,))), raise_exceptions=True) as client:
        with anyio.fail_after(60):
            result = await run(client, "sql('select 42')", timeout=1)
            assert result.is_error and "interrupted. The kernel kept its state." in text_of(result)
            await anyio.to_thread.run_sync(feed)
            # (A query would read the pipe again: the view's existence is the point.)
            assert await value(client, "print([(t.name, t.source) for t in tables()])") == f"[('slow', '{pipe}')]"


async def test_sql_in_another_thread_sees_the_views_and_that_threads_frames(client: Client) -> None:
    code = (
        "import threading\nout = []\n"
        "def work():\n    mine = pd.DataFrame({'v': [1, 2, 3]})\n"
        "    out.append(sql('select count(*), (select sum(v) from mine) from lines').fetchall())\n"
        "threads = [threading.Thread(target=work) for _ in range(3)]\n"
        "for t in threads: t.start()\nfor t in threads: t.join()\nprint(out)"
    )
    assert await value(client, "import pandas as pd\n" + code) == "[[(1000, 6)], [(1000, 6)], [(1000, 6)]]"


async def test_a_named_session_keeps_its_tables_and_drops_the_views_of_files_no_longer_given(
    anyio_backend: str, data_dir: Path
) -> None:
    async with Client(
        build_server(settings(session="sql-views", data_dirs=(data_dir,))), raise_exceptions=True
    ) as client:
        await value(client, "sql('create or replace table summary as select count(*) as n from lines')")
    empty = Path(tempfile.mkdtemp(prefix="memex-data-"))
    async with Client(build_server(settings(session="sql-views", data_dirs=(empty,))), raise_exceptions=True) as client:
        # The first server ran one cell and saved no variable: its history is what comes back.
        assert await value(client, "print([(t.name, t.kind, t.rows) for t in tables()])") == (
            "[memex] restored session sql-views: 0 variable(s) and 1 execution(s) of history, as of execution [1]; "
            "tables are kept in its database.\n[('summary', 'table', 1)]"
        )
        assert await value(client, "print(sql('select n from summary').fetchall())") == "[(1000,)]"


async def test_a_database_file_held_by_another_kernel_is_reported_and_memory_used(anyio_backend: str) -> None:
    async with Client(build_server(settings(session="sql-locked")), raise_exceptions=True) as first:
        await value(first, "sql('create or replace table mine as select 1 as a')")
        async with Client(build_server(settings(session="sql-locked")), raise_exceptions=True) as second:
            with anyio.fail_after(60):
                text = await value(second, "print(sql('select 2 as b').fetchall())")
            assert "memex: the database " in text and "another process has it open" in text
            assert "in-memory database" in text and text.endswith("[(2,)]")
            assert "Database: in memory, tables you create will not outlive the kernel" in await value(second, "help()")


async def test_sub_agents_query_views_and_their_own_frames_at_the_same_time(client: Client) -> None:
    reply = (
        "```python\\nmine = pd.DataFrame({'v': [1, 2, 3]})\\n"
        "submit(sql('select count(*) + (select sum(v) from mine) from lines').fetchall()[0][0])\\n```"
    )
    code = (
        "import pandas as pd\nfrom memex_mcp.runtime.models.scripted import ScriptedModel\n"
        f'model = ScriptedModel.replies(["{reply}"])\n'
        "handles = [spawn_agent('count the lines', model=model) for _ in range(3)]\n"
        "print(gather(*handles, timeout=60))"
    )
    with anyio.fail_after(90):
        assert await value(client, code) == "[1006, 1006, 1006]"


async def test_sub_agents_using_db_at_the_same_time_each_have_a_cursor_of_their_own(client: Client) -> None:
    # One connection refuses a second query while it runs one; these overlap for about a second.
    reply = "```python\\nsubmit(db.sql('select count(*) from range(300000000)').fetchall()[0][0])\\n```"
    code = (
        "from memex_mcp.runtime.models.scripted import ScriptedModel\n"
        f'model = ScriptedModel.replies(["{reply}"])\n'
        "handles = [spawn_agent('count', model=model) for _ in range(3)]\n"
        "print(gather(*handles, timeout=60))"
    )
    with anyio.fail_after(90):
        assert await value(client, code) == "[300000000, 300000000, 300000000]"


async def test_a_relation_previews_and_converts_as_duckdb_does(client: Client) -> None:
    # DuckDB 2's .arrow() is a RecordBatchReader, as DuckDB itself has it.
    code = (
        "rel = sql('select region, amount from sales_2024 order by amount')\n"
        "print(type(rel).__name__, list(rel.df().region), rel.fetchall()[0], rel.arrow().read_all().num_rows)\nrel"
    )
    text = await value(client, code)
    first, preview = text.split("\n", 1)
    assert first == "DuckDBPyRelation ['east', 'north', 'south'] ('east', 7.25) 3"
    assert "region" in preview and "amount" in preview and "south" in preview
