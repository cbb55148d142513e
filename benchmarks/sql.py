"""`sql()` against raw DuckDB on the same queries over 10 M rows, and loading the example data.

In process, on the kernel runtime's own objects (`Loader`, `make_sql`): what `sql()` adds per call
is the wait check, the XLSX stat, and the frame that lends DuckDB the caller's names. Series are
interleaved, so load on the shared machine hits both alike.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT
from memex_mcp.protocol import RuntimeConfig
from memex_mcp.runtime.data.loader import Loader
from memex_mcp.runtime.data.sql import make_sql

ROWS = 10_000_000
GROUP_BY = "SELECT k, count(*), sum(x) FROM t GROUP BY k"
ON_FRAME = "SELECT k, count(*), sum(x) FROM frame GROUP BY k"
TRIVIAL = "SELECT 1"


def _loader(data_dirs: list[str], cache: str | None = None) -> Loader:
    session = tempfile.mkdtemp(prefix="memex-bench-sql-")
    return Loader(RuntimeConfig(session_dir=session, cache_dir=cache or session, data_dirs=data_dirs))


def _time(run: Callable[[], Any]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def _pairs(raw: Callable[[], Any], ours: Callable[[], Any], rounds: int) -> dict[str, float]:
    raw(), ours()  # warm
    raw_s, ours_s = [], []
    for i in range(rounds):  # alternate which goes first: neither always gets the warmer cache
        if i % 2:
            ours_s.append(_time(ours))
            raw_s.append(_time(raw))
        else:
            raw_s.append(_time(raw))
            ours_s.append(_time(ours))
    r, o = statistics.median(raw_s), statistics.median(ours_s)
    return {"raw_ms": 1000 * r, "sql_ms": 1000 * o, "ratio": o / r}


def run(rounds: int = 30) -> dict[str, Any]:
    loader = _loader([])
    loader.run()
    con = loader.wait()
    sql = make_sql(loader)
    con.execute(f"CREATE TABLE t AS SELECT range % 1000 AS k, (hash(range) % 10000) / 100.0 AS x FROM range({ROWS})")
    frame = con.sql("SELECT * FROM t").df()

    def raw(query: str) -> Callable[[], Any]:
        def call(frame: Any = frame) -> Any:  # `frame` is a local here: DuckDB finds it by name
            return con.sql(query).fetchall()

        return call

    def ours(query: str) -> Callable[[], Any]:
        def call(frame: Any = frame) -> Any:
            relation = sql(query)
            assert relation is not None
            return relation.fetchall()

        return call

    results = {
        f"GROUP BY over a {ROWS:,}-row table": _pairs(raw(GROUP_BY), ours(GROUP_BY), rounds),
        f"GROUP BY over a {ROWS:,}-row DataFrame in scope": _pairs(raw(ON_FRAME), ours(ON_FRAME), rounds),
        "SELECT 1 (the fixed cost)": _pairs(raw(TRIVIAL), ours(TRIVIAL), rounds * 20),
    }
    data = str(ROOT / "examples" / "data")
    cache = tempfile.mkdtemp(prefix="memex-bench-cache-")
    cold, warm = _loader([data], cache), _loader([data], cache)
    load = {
        "cold": _time(cold.run),
        "warm": _time(warm.run),
        "views": len(warm.sources),
        "problems": len(cold.problems) + len(warm.problems),
    }
    return {"queries": results, "load": load, "rounds": rounds, "data": Path(data).relative_to(ROOT)}


def report(result: dict[str, Any], command: str, when: str) -> str:
    rows = [
        f"| {name} | {r['raw_ms']:.2f} | {r['sql_ms']:.2f} | {r['ratio']:.3f} |"
        for name, r in result["queries"].items()
    ]
    load = result["load"]
    main = next(iter(result["queries"].values()))
    fixed = result["queries"]["SELECT 1 (the fixed cost)"]
    return "\n".join(
        [
            "## sql() against raw DuckDB",
            "",
            f"`{command}`, {when}: in process, medians of {result['rounds']} interleaved runs each, alternating "
            "which goes first (SELECT 1: 20× as many), milliseconds, `.fetchall()` included. "
            "Raw: `con.sql(q)` on the same "
            "connection; sql(): the kernel's `sql(q)` (waits for loading, checks XLSX files, lends DuckDB "
            "the caller's names).",
            "",
            "| query | raw DuckDB | sql() | ratio |",
            "|---|---:|---:|---:|",
            *rows,
            "",
            f"**sql() overhead on 10 M rows: {100 * (main['ratio'] - 1):+.1f} %** (target ≤ 5 %; the machine is "
            "shared and noisy, so a few percent either way is noise); the fixed cost per call is "
            f"{1000 * (fixed['sql_ms'] - fixed['raw_ms']):+.0f} µs.",
            "",
            f"Loading `{result['data']}` ({load['views']} views, ~1.25 M rows; in the kernel this runs in a "
            f"background thread): {1000 * load['cold']:.0f} ms with the XLSX file converted, "
            f"{1000 * load['warm']:.0f} ms from the cache.",
        ]
    )
