"""Read-only SQL over the store: reads work, nothing can write, not even another file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from upkeep_helpers import seed_run

from flyte._store.query import ReadOnlyQueryError, query
from flyte.errors import StoreError, UserError


def _rows(path: str, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    result = query(path, sql)
    try:
        return result.columns, list(result.rows)
    finally:
        result.close()


def test_the_public_views_read(sqlite_store: Any) -> None:
    seed_run(sqlite_store, "one", actions=2, logs=1)
    assert _rows(sqlite_store.path, "select name, phase from runs_v1") == (
        ["name", "phase"],
        [("one", "SUCCEEDED")],
    )
    columns, rows = _rows(sqlite_store.path, "select * from actions_v1 order by seq")
    assert columns[:4] == ["run", "id", "parent", "name"] and len(rows) == 2
    assert _rows(sqlite_store.path, "select count(*) from logs_v1")[1] == [(2,)]
    assert _rows(sqlite_store.path, "select count(*) from attempts_v1")[1] == [(2,)]
    assert _rows(sqlite_store.path, "select count(*) from cache_v1")[1] == [(0,)]
    assert _rows(sqlite_store.path, "pragma table_info(runs_v1)")[1][0][1] == "name"


@pytest.mark.parametrize(
    "sql",
    [
        "delete from runs",
        "update runs set phase = 'FAILED'",
        "insert into logs (run, ts, stream, line) values ('one', 0, 'stdout', 'x')",
        "create table mine (x)",
        "create temp table mine (x)",
        "drop view runs_v1",
        "pragma query_only = off",
        "pragma journal_mode = delete",
        "pragma wal_checkpoint(truncate)",
        "attach '{tmp}/other.db' as other",
        "vacuum into '{tmp}/copy.db'",
        "vacuum",
        "reindex",
        "analyze",
    ],
)
def test_nothing_can_write(sqlite_store: Any, tmp_path: Path, sql: str) -> None:
    seed_run(sqlite_store, "one")
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(ReadOnlyQueryError, match="flyte db query is read-only"):
        query(sqlite_store.path, sql.format(tmp=tmp_path))
    assert sorted(os.listdir(tmp_path)) == before, "no file may appear"
    assert _rows(sqlite_store.path, "select phase from runs")[1] == [("SUCCEEDED",)]


def test_bad_sql_and_a_missing_store(sqlite_store: Any, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such table: nope; the public views are runs_v1"):
        query(sqlite_store.path, "select * from nope")
    with pytest.raises(UserError, match="syntax error"):
        query(sqlite_store.path, "selec 1")
    with pytest.raises(StoreError, match="no run store at"):
        query(tmp_path / "absent.db", "select 1")
