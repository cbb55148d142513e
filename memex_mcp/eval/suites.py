"""Suites: the tasks of an eval and the data they are asked over.

`SUITE` is one of:
- `bundled`: six questions over the package's example data (tables and company reports).
- A CSV in OfficeQA's format, `uid, question, answer, source_files, difficulty`, with its corpus
  folder (`--data-dir`, else a `corpus` or `data` folder beside the file).
- Table questions, CSV or JSONL, `id, question, answer_sql` (or `answer`): `answer_sql` is a query
  over the data dir's files (each a DuckDB view named after the file, as in the kernel) whose
  result is the expected answer, computed when the suite loads, so it is always current.
- A directory holding one of those (`tasks.jsonl`, `tasks.csv`, or a single `*.csv`/`*.jsonl`).

Ids: `uid` or `id`, else the line number. `source_files` may be a list or a `;`/`,`-separated string.
"""

from __future__ import annotations

import csv
import json
import tempfile
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

BUNDLED = "bundled"


class SuiteError(ValueError):
    pass


class Task(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    question: str
    #: The expected answer as text (for SQL-checkable tasks: the query's result).
    answer: str
    source_files: tuple[str, ...] = ()
    difficulty: str = ""


class Suite(BaseModel):
    name: str
    data_dir: Path
    tasks: list[Task]


def load_suite(spec: str, data_dir: Path | None = None, work_dir: Path | None = None) -> Suite:
    """The suite `spec` names (see the module's doc). `work_dir`: where SQL answers' database goes.
    Raises `SuiteError` saying what to fix."""
    if spec == BUNDLED:
        from memex_mcp.server.demo import example_data

        path = Path(__file__).parent / "bundled" / "tasks.jsonl"
        return _suite(BUNDLED, path, data_dir or example_data(), work_dir)
    path = Path(spec)
    if path.is_dir():
        path = _task_file(path)
    elif not path.is_file():
        raise SuiteError(
            f"{spec}: no such file or directory; give a CSV or JSONL of tasks, a folder of one, or 'bundled'"
        )
    if data_dir is None:
        data_dir = next((d for d in (path.parent / "corpus", path.parent / "data") if d.is_dir()), None)
        if data_dir is None:
            raise SuiteError(
                f"{path}: which data do its questions ask about? Give --data-dir DIR (its corpus or tables)"
            )
    if not data_dir.is_dir():
        raise SuiteError(f"--data-dir {data_dir}: no such directory")
    return _suite(path.stem if path.stem != "tasks" else path.parent.name, path, data_dir, work_dir)


def _task_file(folder: Path) -> Path:
    for name in ("tasks.jsonl", "tasks.csv"):
        if (folder / name).is_file():
            return folder / name
    found = sorted([*folder.glob("*.csv"), *folder.glob("*.jsonl")])
    if len(found) != 1:
        raise SuiteError(
            f"{folder}: expected tasks.jsonl, tasks.csv or a single CSV/JSONL file of tasks, found "
            f"{', '.join(p.name for p in found) or 'none'}"
        )
    return found[0]


def _suite(name: str, path: Path, data_dir: Path, work_dir: Path | None) -> Suite:
    rows = list(_rows(path))
    if not rows:
        raise SuiteError(f"{path}: no tasks in it")
    tasks: list[Task] = []
    queries: dict[int, str] = {}
    for n, row in enumerate(rows, 1):
        where = f"{path}, task {n}"
        question = str(row.get("question") or "").strip()
        if not question:
            raise SuiteError(f"{where}: no question (columns: uid or id, question, answer or answer_sql)")
        answer, sql = row.get("answer"), row.get("answer_sql")
        if sql:
            queries[n - 1] = str(sql)
        elif answer is None or str(answer).strip() == "":
            raise SuiteError(f"{where}: no answer; give `answer` or `answer_sql` (a query whose result is the answer)")
        tasks.append(
            Task(
                id=str(row.get("uid") or row.get("id") or n),
                question=question,
                answer=str(answer if answer is not None else ""),
                source_files=_files(row.get("source_files")),
                difficulty=str(row.get("difficulty") or ""),
            )
        )
    if len({t.id for t in tasks}) != len(tasks):
        raise SuiteError(f"{path}: task ids repeat; each task needs its own uid/id")
    if queries:
        answers = _sql_answers(queries, data_dir, work_dir)
        tasks = [t.model_copy(update={"answer": answers[i]}) if i in answers else t for i, t in enumerate(tasks)]
    return Suite(name=name, data_dir=data_dir.resolve(), tasks=tasks)


def _rows(path: Path) -> Iterable[dict[str, Any]]:
    if path.suffix == ".jsonl":
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise SuiteError(f"{path}, line {n}: not JSON ({exc})") from None
                if not isinstance(row, dict):
                    raise SuiteError(f"{path}, line {n}: each line must be a JSON object")
                yield row
    elif path.suffix == ".csv":
        with path.open(newline="") as f:
            yield from csv.DictReader(f)
    else:
        raise SuiteError(f"{path}: tasks are a .csv or .jsonl file")


def _files(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    text = str(value).strip()
    if text.startswith("["):
        try:
            return tuple(str(v) for v in json.loads(text))
        except json.JSONDecodeError:
            pass
    sep = ";" if ";" in text else ","
    return tuple(p.strip() for p in text.split(sep) if p.strip())


def _sql_answers(queries: dict[int, str], data_dir: Path, work_dir: Path | None) -> dict[int, str]:
    import duckdb

    from memex_mcp.eval.harness_tools import open_database

    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        connection = open_database(data_dir, Path(tmp))
        try:
            answers = {}
            for i, query in queries.items():
                try:
                    rows = connection.sql(query).fetchall()
                except duckdb.Error as exc:
                    raise SuiteError(f"task {i + 1}: its answer_sql failed: {exc}") from None
                answers[i] = answer_text(rows)
            return answers
        finally:
            connection.close()


def answer_text(rows: list[tuple[Any, ...]]) -> str:
    """A query's result as an answer: one value as itself, more as `a, b; c, d` (rows by `;`)."""
    return "; ".join(", ".join(_cell(v) for v in row) for row in rows)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.12g}"
    if isinstance(value, Decimal):
        return format(value, "f")
    return "" if value is None else str(value)
