"""The `[retention]` policy of the config file, and when the automatic gc starts."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from upkeep_helpers import DAY, seed_run

from flyte._store.retention import (
    config_path,
    load_retention,
    run_auto_gc,
    schedule_auto_gc,
    stamp_path,
)
from flyte._store.upkeep import GcPolicy
from flyte.errors import InvalidOptionError


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_a_toml_policy(tmp_path: Path) -> None:
    file = _write(
        tmp_path / "config.toml",
        'endpoint = "http://x"\n[retention]\nolder_than = "30d"\nkeep = 5\n'
        'failed_only = true\ncache_older_than = "12h"\nauto = false\n',
    )
    retention = load_retention(file)
    assert retention is not None
    assert retention.policy == GcPolicy(
        older_than=30 * DAY, keep=5, failed_only=True, cache_older_than=12 * 3600
    )
    assert retention.auto is False and retention.source == str(file)


def test_a_number_of_days_and_json(tmp_path: Path) -> None:
    file = _write(tmp_path / "c.json", json.dumps({"retention": {"older_than": 14}}))
    retention = load_retention(file)
    assert retention is not None and retention.policy == GcPolicy(older_than=14 * DAY)
    assert retention.auto is True


def test_no_section_no_file_and_upstream_yaml_mean_no_policy(tmp_path: Path) -> None:
    assert load_retention(_write(tmp_path / "a.toml", 'endpoint = "http://x"\n')) is None
    assert load_retention(tmp_path / "missing.toml") is None
    assert (
        load_retention(_write(tmp_path / "config.yaml", "admin:\n  endpoint: dns:///x\n")) is None
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[retention\n", "is not valid TOML"),
        ("retention = 3\n", r"\[retention\] in .* must be a table"),
        ('[retention]\nolder = "3d"\n', r"unknown key\(s\) older; valid keys: auto"),
        ('[retention]\nolder_than = "soon"\n', "'soon' is not an age like 30d"),
        ('[retention]\nkeep = "10"\n', "keep must be a whole number"),
        ('[retention]\nolder_than = "3d"\nauto = "yes"\n', "auto must be true or false"),
        ("[retention]\n", "selects nothing"),
        ("[retention]\nkeep = -1\n", "keep must be >= 0"),
    ],
)
def test_a_bad_section_says_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InvalidOptionError, match=message):
        load_retention(_write(tmp_path / "config.toml", text))


def test_where_the_config_file_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _isolated_home: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert config_path() == _isolated_home / "config.toml"
    project = _write(tmp_path / ".flyte" / "config.toml", "")
    assert config_path() == Path(".flyte") / "config.toml"
    assert config_path().resolve() == project.resolve()
    monkeypatch.setenv("FLYTE_CONFIG", str(tmp_path / "mine.toml"))
    assert config_path() == tmp_path / "mine.toml"


def test_a_broken_config_never_fails_the_command_that_triggers_gc(
    sqlite_store: Any, _isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(_isolated_home / "config.toml", "[retention\n")
    assert schedule_auto_gc(sqlite_store.path) is False
    assert "automatic gc skipped: config file" in capsys.readouterr().err
    assert not stamp_path(sqlite_store.path).exists()


def test_run_auto_gc_applies_the_policy_and_logs_it(
    sqlite_store: Any, _isolated_home: Path
) -> None:
    seed_run(sqlite_store, "old", age_days=40)
    seed_run(sqlite_store, "new")
    _write(_isolated_home / "config.toml", '[retention]\nolder_than = "30d"\n')
    entry = run_auto_gc(sqlite_store.path)
    assert entry["runs"] == ["old"] and "error" not in entry
    logged = json.loads((_isolated_home / "gc.log").read_text().splitlines()[-1])
    assert logged["runs"] == ["old"] and logged["store"] == sqlite_store.path
    assert {r.name for r in sqlite_store.list_runs()} == {"new"}


def test_a_due_gc_starts_once(sqlite_store: Any, _isolated_home: Path) -> None:
    seed_run(sqlite_store, "old", age_days=40)
    _write(_isolated_home / "config.toml", '[retention]\nolder_than = "30d"\n')
    stamp = stamp_path(sqlite_store.path)
    _write(stamp, "")
    yesterday = time.time() - 2 * DAY
    os.utime(stamp, (yesterday, yesterday))
    assert schedule_auto_gc(sqlite_store.path) is True
    assert stamp.stat().st_mtime > yesterday + DAY
    assert schedule_auto_gc(sqlite_store.path) is False  # stamped: not again today
    log = _isolated_home / "gc.log"
    deadline = time.monotonic() + 60
    while not log.exists() or not log.read_text().strip():
        assert time.monotonic() < deadline, "the background gc did not run"
        time.sleep(0.05)
    assert json.loads(log.read_text().splitlines()[0])["runs"] == ["old"]
