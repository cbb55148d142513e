"""Errors and data listings that tell a model its next step, read as a model reads them: the reply text."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import run, settings, text_of
from mcp import Client

from memex_mcp.server import build_server

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def data_dir() -> Path:
    root = Path(tempfile.mkdtemp(prefix="memex-errors-"))
    (root / "sales.csv").write_text("region,revenue,sold_on\nnorth,10.5,2024-01-02\nsouth,20,2024-02-03\n")
    pq.write_table(pa.table({"id": list(range(500)), "sku": ["S"] * 500}), root / "lines.parquet")
    wide = ",".join(f"measurement_column_{i}" for i in range(40))
    (root / "wide.csv").write_text(wide + "\n" + ",".join("1" for _ in range(40)) + "\n")
    return root


@pytest.fixture(scope="module")
async def client(anyio_backend: str, data_dir: Path) -> AsyncIterator[Client]:
    async with Client(
        build_server(settings(timeout=60, interrupt_grace=5, data_dirs=(data_dir,), output_limit=4000)),
        raise_exceptions=True,
    ) as c:
        yield c


async def error(client: Client, code: str) -> str:
    result = await run(client, code)
    assert result.is_error, text_of(result)
    return text_of(result)


async def value(client: Client, code: str) -> str:
    result = await run(client, code)
    assert not result.is_error, text_of(result)
    return text_of(result)


async def test_a_misspelt_name_gets_pythons_did_you_mean(client: Client) -> None:
    text = await error(client, "revenue_total = 3\nprint(revenue_totl)")
    assert text.splitlines()[-1] == "NameError: name 'revenue_totl' is not defined. Did you mean: 'revenue_total'?"


async def test_a_misspelt_attribute_gets_pythons_did_you_mean(client: Client) -> None:
    text = await error(client, "class Order:\n    amount = 1\nOrder().amont")
    assert text.splitlines()[-1] == "AttributeError: 'Order' object has no attribute 'amont'. Did you mean: 'amount'?"


async def test_a_missing_dataframe_column_lists_the_columns_and_the_closest(client: Client) -> None:
    code = "import pandas as pd\ndf = pd.DataFrame({'revenue': [1], 'region': ['n']})\ndf['revnue']"
    text = await error(client, code)
    assert text.splitlines()[-2:] == [
        "KeyError: 'revnue'",
        "The DataFrame's columns are: revenue, region. Did you mean 'revenue'?",
    ]


async def test_the_columns_listed_for_a_wide_dataframe_are_bounded(client: Client) -> None:
    code = "import pandas as pd\nwide = pd.DataFrame({f'column_number_{i}': [i] for i in range(500)})\nwide['nope']"
    last = (await error(client, code)).splitlines()[-1]
    assert last.startswith("The DataFrame's columns are: column_number_0, column_number_1,")
    assert last.endswith(" more).") and len(last) < 500


async def test_a_runaway_recursion_is_short_and_says_repeated(client: Client) -> None:
    text = await error(client, "def down(n):\n    return down(n + 1)\ndown(0)")
    assert text.count("in down") == 3
    assert "  [Previous line repeated " in text and text.endswith("RecursionError: maximum recursion depth exceeded")
    assert len(text) < 600


async def test_mutual_recursion_is_counted_as_a_cycle(client: Client) -> None:
    text = await error(client, "def ping(n):\n    return pong(n)\ndef pong(n):\n    return ping(n)\nping(0)")
    assert text.count("in ping") == 1 and text.count("in pong") == 1
    assert "  [Previous 2 frames repeated " in text and len(text) < 600


async def test_fetchone_returns_the_first_row_and_fetchmany_goes_on(client: Client) -> None:
    code = (
        "print(sql('select count(*) from sales').fetchone()[0])\n"
        "rel = sql('select range from range(5)')\n"
        "print(rel.fetchone(), rel.fetchmany(2), rel.fetchmany(10), rel.fetchone(), rel.fetchall()[0])\n"
        "print(sql('select 1 where false').fetchone(), sql('select 7').limit(1).fetchone())"
    )
    assert await value(client, code) == "2\n(0,) [(1,), (2,)] [(3,), (4,)] None (0,)\nNone (7,)"


async def test_fetchone_past_the_first_thousand_rows_reads_on(client: Client) -> None:
    code = (
        "rel = sql('select range from range(2500)')\nrows = rel.fetchmany(1200) + rel.fetchmany(2000)\n"
        "print(len(rows), rows[-1], rel.fetchone())"
    )
    assert await value(client, code) == "2500 (2499,) None"


async def test_a_relation_keeps_working_as_duckdb_has_it(client: Client) -> None:
    code = (
        "rel = sql('select region, revenue from sales order by revenue')\nrel.fetchone()\n"
        "print(list(rel.df().region), rel.fetchall(), rel.arrow().read_all().num_rows,"
        " sql('select sum(revenue) from rel').fetchone())\nrel"
    )
    first, preview = (await value(client, code)).split("\n", 1)
    assert first == "['north', 'south'] [('north', 10.5), ('south', 20.0)] 2 (30.5,)"
    assert "region" in preview and "south" in preview


async def test_a_method_relations_lack_names_its_replacement_without_history(client: Client) -> None:
    text = await error(client, "sql('select 1').execute()")
    assert text.splitlines()[-1].startswith("AttributeError: A DuckDB relation has no execute() and is not a column")
    assert "rel.materialize()" in text and "no longer" not in text


async def test_tables_lists_columns_with_types_and_row_counts(client: Client, data_dir: Path) -> None:
    await value(client, "sql('create or replace table made_here as select 1 as a, 2.5 as b')")
    lines = (await value(client, "tables()")).splitlines()
    assert lines[0].split() == ["name", "kind", "rows", "columns", "(name:type)"]
    by_name = {line.split()[0]: line for line in lines[1:]}
    assert by_name["sales"].split() == [
        "sales",
        "view",
        "2",
        "region:VARCHAR,",
        "revenue:DOUBLE,",
        "sold_on:DATE",
        "←",
        str(data_dir / "sales.csv"),
    ]
    assert by_name["lines"].split()[:5] == ["lines", "view", "500", "id:BIGINT,", "sku:VARCHAR"]
    assert by_name["made_here"].split() == ["made_here", "table", "1", "a:INTEGER,", "b:DECIMAL(2,1)"]
    assert "… +" in by_name["wide"] and " more (.columns)" in by_name["wide"] and len(by_name["wide"]) < 300
    code = (
        "w = [t for t in tables() if t.name == 'wide'][0]\n"
        "print(len(w.columns), w.columns[-1].name, w.columns[-1].type)"
    )
    full = await value(client, code)
    assert full == "40 measurement_column_39 BIGINT"


async def test_a_view_made_in_sql_has_rows_unknown(client: Client) -> None:
    await value(client, "sql('create or replace view big_join as select a.range as n from range(10) a, range(10) b')")
    line = next(line for line in (await value(client, "tables()")).splitlines() if line.startswith("big_join "))
    assert line.split()[:4] == ["big_join", "view", "unknown", "n:BIGINT"]


async def test_a_query_interrupted_by_a_timeout_leaves_later_queries_working(client: Client) -> None:
    await value(client, "kept_through_interrupt = 5")
    with anyio.fail_after(60):
        stopped = await run(client, "sql('select sum(range) from range(100000000000)').fetchall()", timeout=1)
    text = text_of(stopped)
    assert stopped.is_error and "The kernel kept its state." in text
    for _ in range(3):
        assert await value(client, "print(sql('select 42').fetchone(), kept_through_interrupt)") == "(42,) 5"


def test_the_duckdb_hooks_the_relation_patch_uses_still_exist() -> None:
    from duckdb import _relation

    assert isinstance(_relation.DuckDBPyRelation, type) and "__getattr__" in vars(_relation.DuckDBPyRelation)
    assert {"fetchone", "fetchmany", "execute"} <= set(_relation._REMOVED_METHODS)
    assert callable(_relation.DuckDBPyRelation.iter_rows) and callable(_relation.DuckDBPyRelation.limit)


async def test_a_query_stopped_by_an_interrupt_not_of_this_call_says_running_it_again_works(client: Client) -> None:
    code = (
        "import threading\nthreading.Timer(0.5, db.interrupt).start()\n"
        "sql('select sum(range) from range(100000000000)').fetchall()"
    )
    with anyio.fail_after(60):
        lines = (await error(client, code)).splitlines()
    assert lines[-2] == "duckdb.InterruptException: INTERRUPT Error: Interrupted!"
    assert lines[-1] == (
        "The query was stopped by an interrupt that did not come from this call; nothing in the query "
        "caused it. The database and its connection are fine: running the query again works."
    )
    assert await value(client, "print(sql('select 42').fetchone())") == "(42,)"
