"""`flyte gc` and `flyte db stats | check | vacuum | query` (in-process), and the retention policy."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Invoke, error_line

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "store"))
from upkeep_helpers import DAY, run_names, seed_run


def _store() -> Any:
    from flyte._store import default_store

    return default_store()


def _seed() -> Any:
    store = _store()
    seed_run(store, "old-ok", age_days=40)
    seed_run(store, "old-failed", age_days=45, phase="FAILED")
    seed_run(store, "new-ok", age_days=1)
    return store


# -- gc ---------------------------------------------------------------------------------


def test_gc_dry_run_lists_what_gc_then_deletes(flyte: Invoke) -> None:
    store = _seed()
    dry = flyte("gc", "--older-than", "30d", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "old-ok" in dry.stdout and "old-failed" in dry.stdout and "new-ok" not in dry.stdout
    assert "Would delete 2 runs (6 actions, 12 log lines) and 0 cache entries." in dry.stdout
    listed = json.loads(flyte("gc", "--older-than", "30d", "--dry-run", "--json").stdout)
    assert sorted(listed["runs"]) == ["old-failed", "old-ok"] and listed["dry_run"] is True
    assert run_names(store) == {"old-ok", "old-failed", "new-ok"}

    done = flyte("gc", "--older-than", "30d", "--yes", "--json")
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert sorted(report["runs"]) == sorted(listed["runs"])
    assert report["rows"] == {"actions": 6, "attempts": 6, "logs": 12, "reports": 0}
    assert report["size_after"] <= report["size_before"]
    assert run_names(store) == {"new-ok"}


def test_gc_says_what_it_did(flyte: Invoke) -> None:
    _seed()
    out = flyte("gc", "--failed-only", "--yes")
    assert out.exit_code == 0, out.output
    line = "Deleted 1 run (3 actions, 3 attempts, 6 log lines) and 0 cache entries; "
    assert line in out.stdout and " file " in out.stdout
    again = flyte("gc", "--failed-only", "--yes")
    assert again.exit_code == 0 and "Nothing to delete." in again.stdout


def test_gc_without_yes_refuses_when_it_cannot_ask(flyte: Invoke) -> None:
    store = _seed()
    line = error_line(flyte("gc", "--keep", "0"))
    assert "Delete 3 runs (9 actions, 18 log lines) and 0 cache entries: needs confirmation" in line
    assert "add --yes" in line
    assert len(run_names(store)) == 3


def test_gc_asks_before_deleting(
    cli_runner: Any, monkeypatch: pytest.MonkeyPatch, _isolated_home: Path
) -> None:
    import flyte_cli._options
    from flyte_cli.main import app

    store = _seed()
    monkeypatch.setattr(flyte_cli._options, "_interactive", lambda: True)
    no = cli_runner.invoke(app, ["gc", "--older-than", "30d"], input="n\n")
    assert no.exit_code == 130, no.output
    assert "Delete 2 runs (6 actions, 12 log lines) and 0 cache entries? [y/N]" in no.output
    assert len(run_names(store)) == 3
    yes = cli_runner.invoke(app, ["gc", "--older-than", "30d"], input="y\n")
    assert yes.exit_code == 0, yes.output
    assert "Deleted 2 runs" in yes.stdout
    assert run_names(store) == {"new-ok"}


def test_gc_never_touches_a_run_in_progress(flyte: Invoke) -> None:
    store = _seed()
    seed_run(store, "busy", age_days=50, phase="RUNNING")
    out = flyte("gc", "--keep", "0", "--yes")
    assert out.exit_code == 0, out.output
    assert "Kept 1 run in progress or being recovered: busy" in out.stdout
    assert run_names(store) == {"busy"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "say what to delete: --older-than 30d"),
        (("--older-than", "soon"), "'soon' is not an age like 30d"),
        (("--cache-older-than", "7"), "'7' is not an age like 30d"),
        (("--keep", "-1"), "-1"),
    ],
)
def test_gc_bad_usage_is_one_line(flyte: Invoke, args: tuple[str, ...], message: str) -> None:
    assert message in error_line(flyte("gc", *args))


def test_gc_applies_the_config_files_retention_policy(flyte: Invoke, _isolated_home: Path) -> None:
    store = _seed()
    _isolated_home.mkdir(parents=True, exist_ok=True)
    (_isolated_home / "config.toml").write_text('[retention]\nolder_than = "30d"\nkeep = 1\n')
    out = flyte("gc", "--dry-run", "--json")
    assert sorted(json.loads(out.stdout)["runs"]) == ["old-failed", "old-ok"]
    assert flyte("gc", "--yes").exit_code == 0
    assert run_names(store) == {"new-ok"}


def test_a_bad_retention_section_is_one_line(flyte: Invoke, _isolated_home: Path) -> None:
    _isolated_home.mkdir(parents=True, exist_ok=True)
    (_isolated_home / "config.toml").write_text('[retention]\nolder = "30d"\n')
    line = error_line(flyte("gc"))
    assert "has unknown key(s) older; valid keys: auto, cache_older_than" in line


# -- automatic retention ------------------------------------------------------------------


def test_flyte_run_starts_the_daily_gc_in_the_background(
    flyte: Invoke, _isolated_home: Path
) -> None:
    from flyte._store.retention import schedule_auto_gc, stamp_path

    store = _seed()
    _isolated_home.mkdir(parents=True, exist_ok=True)
    (_isolated_home / "config.toml").write_text('[retention]\nolder_than = "30d"\n')
    out = flyte("run", "examples/hello.py", "main", "--name", "World")
    assert out.exit_code == 0, out.output
    log = _isolated_home / "gc.log"
    deadline = time.monotonic() + 60
    while not log.exists() or not log.read_text().strip():
        assert time.monotonic() < deadline, "the background gc did not run"
        time.sleep(0.05)
    entry = json.loads(log.read_text().splitlines()[0])
    assert "error" not in entry, entry
    assert sorted(entry["runs"]) == ["old-failed", "old-ok"]
    assert {"old-ok", "old-failed"}.isdisjoint(run_names(store))
    # At most once a day: the stamp is fresh, so nothing starts now; tomorrow it would.
    stamp = stamp_path(store.path)
    assert stamp.exists()
    assert schedule_auto_gc(store.path) is False
    os.utime(stamp, (time.time() - 2 * DAY, time.time() - 2 * DAY))
    (_isolated_home / "config.toml").write_text('[retention]\nolder_than = "30d"\nauto = false\n')
    assert schedule_auto_gc(store.path) is False


def test_no_retention_section_means_no_automatic_gc(_isolated_home: Path) -> None:
    from flyte._store.retention import schedule_auto_gc, stamp_path

    store = _seed()
    assert schedule_auto_gc(store.path) is False
    assert not stamp_path(store.path).exists()


# -- db -----------------------------------------------------------------------------------


def test_db_stats(flyte: Invoke) -> None:
    _seed()
    data = json.loads(flyte("db", "stats", "--json").stdout)
    assert data["runs"] == 3 and data["actions"] == 9 and data["logs"] == 18
    assert data["runs_by_phase"] == {"SUCCEEDED": 2, "FAILED": 1}
    assert data["file_bytes"] > 0 and data["incremental_vacuum"] is True
    assert len(data["biggest"]) == 3
    text = flyte("db", "stats").stdout
    assert "Runs       3 (1 failed, 2 succeeded); 0 in progress" in text
    assert "Biggest runs" in text


def test_db_check_exit_codes(flyte: Invoke) -> None:
    store = _seed()
    ok = flyte("db", "check")
    assert ok.exit_code == 0 and "The store is sound" in ok.stdout
    seed_run(store, "broken", phase="FAILED", action_phase="RUNNING")
    bad = flyte("db", "check", "--quick")
    assert bad.exit_code == 1
    assert "run broken has ended but 3 of its actions are still queued or running" in bad.stdout
    data = json.loads(flyte("db", "check", "--json").stdout)
    assert data["ok"] is False and len(data["problems"]) == 1


def test_db_vacuum(flyte: Invoke) -> None:
    store = _seed()
    out = flyte("db", "vacuum", "--json")
    assert out.exit_code == 0, out.output
    sizes = json.loads(out.stdout)
    assert sizes["size_after"] <= sizes["size_before"]
    seed_run(store, "busy", phase="RUNNING")
    assert "run busy is in progress" in error_line(flyte("db", "vacuum"))
    assert flyte("db", "vacuum", "--force").exit_code == 0


def test_db_query_formats(flyte: Invoke) -> None:
    _seed()
    sql = "select name, phase from runs_v1 order by name"
    rows = json.loads(flyte("db", "query", sql, "--json").stdout)
    assert rows == [
        {"name": "new-ok", "phase": "SUCCEEDED"},
        {"name": "old-failed", "phase": "FAILED"},
        {"name": "old-ok", "phase": "SUCCEEDED"},
    ]
    table = list(csv.reader(io.StringIO(flyte("db", "query", sql, "--csv").stdout)))
    assert table[0] == ["name", "phase"] and table[2] == ["old-failed", "FAILED"]
    text = flyte("db", "query", sql).stdout.splitlines()
    assert text[0].split() == ["name", "phase"] and text[2].split() == ["new-ok", "SUCCEEDED"]
    github = flyte("db", "query", sql, "--table", "--fmt", "github").stdout
    assert github.startswith("| name ")
    blob = json.loads(flyte("db", "query", "select x'0102' as b", "--json").stdout)
    assert blob == [{"b": {"$base64": True, "encoded": "AQI="}}]
    assert json.loads(flyte("db", "query", "select 1 where 0", "--json").stdout) == []


@pytest.mark.parametrize(
    "sql",
    [
        "delete from runs",
        "DROP TABLE runs",
        "insert into runs (name) values ('x')",
        "pragma query_only = off",
        "attach 'other.db' as other",
    ],
)
def test_db_query_cannot_write(flyte: Invoke, sql: str) -> None:
    store = _seed()
    line = error_line(flyte("db", "query", sql))
    assert line.startswith("Error: flyte db query is read-only:")
    assert run_names(store) == {"old-ok", "old-failed", "new-ok"}
    assert not Path("other.db").exists()


def test_db_query_bad_sql_names_the_views(flyte: Invoke) -> None:
    _seed()
    line = error_line(flyte("db", "query", "select * from nope"))
    assert "no such table: nope; the public views are runs_v1, actions_v1" in line
    assert "choose one of" in error_line(flyte("db", "query", "select 1", "--json", "--csv"))


def test_db_query_needs_a_sqlite_store(flyte: Invoke) -> None:
    line = error_line(flyte("--store", "memory", "db", "query", "select 1"))
    assert "needs a SQLite store" in line
