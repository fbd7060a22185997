"""Store upkeep on both stores: gc filters and protections, cache pruning, stats, check, vacuum."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from upkeep_helpers import DAY, NOW, run_names, seed_run

from flyte._store.stats import check, stats
from flyte._store.upkeep import GcPolicy, gc, parse_age, plan_gc, vacuum
from flyte.errors import InvalidOptionError, UserError

# Newest first: new-ok (1d), new-failed (2d), mid (20d), old-timeout (35d), old-ok (40d),
# old-failed (41d).
_RUNS = {
    "new-ok": (1, "SUCCEEDED"),
    "new-failed": (2, "FAILED"),
    "mid": (20, "SUCCEEDED"),
    "old-timeout": (35, "TIMED_OUT"),
    "old-ok": (40, "SUCCEEDED"),
    "old-failed": (41, "FAILED"),
}


def _seed_all(store: Any) -> None:
    for name, (age, phase) in _RUNS.items():
        seed_run(store, name, age_days=age, phase=phase)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (GcPolicy(older_than=30 * DAY), {"old-timeout", "old-ok", "old-failed"}),
        (GcPolicy(older_than=30 * DAY, failed_only=True), {"old-timeout", "old-failed"}),
        (GcPolicy(keep=2), {"mid", "old-timeout", "old-ok", "old-failed"}),
        (GcPolicy(keep=1, failed_only=True), {"old-timeout", "old-failed"}),
        (GcPolicy(older_than=10 * DAY, keep=4), {"old-ok", "old-failed"}),
        (GcPolicy(failed_only=True), {"new-failed", "old-timeout", "old-failed"}),
        (GcPolicy(keep=0), set(_RUNS)),
        (GcPolicy(older_than=50 * DAY), set()),
    ],
)
def test_gc_deletes_exactly_what_the_filters_say(
    store: Any, policy: GcPolicy, expected: set[str]
) -> None:
    _seed_all(store)
    planned = {c.name for c in plan_gc(store, policy, now=NOW).runs}
    dry = gc(store, policy, dry_run=True, now=NOW)
    assert planned == set(dry.runs) == expected
    assert dry.rows == {"actions": 3 * len(expected), "logs": 6 * len(expected)}
    assert run_names(store) == set(_RUNS), "a dry run deletes nothing"

    report = gc(store, policy, now=NOW)
    assert set(report.runs) == expected
    assert run_names(store) == set(_RUNS) - expected
    assert report.rows["actions"] == 3 * len(expected)
    assert report.rows["attempts"] == 3 * len(expected)
    assert report.rows["logs"] == 6 * len(expected)
    for name in _RUNS:
        gone = name in expected
        assert (store.list_actions(name) == []) is gone
        assert (store.logs(name) == []) is gone
        assert (store.list_attempts(name) == []) is gone
    assert check(store).ok, check(store).problems


def test_gc_never_touches_a_running_or_recovering_run(store: Any) -> None:
    seed_run(store, "old-running", age_days=40, phase="RUNNING")
    seed_run(store, "old-source", age_days=40, phase="FAILED")
    seed_run(store, "recovering", age_days=0, phase="RUNNING", recovered_from="old-source")
    seed_run(store, "old-dead", age_days=40, phase="RUNNING", alive=False)
    seed_run(store, "old-plain", age_days=40)
    policy = GcPolicy(older_than=30 * DAY)

    plan = plan_gc(store, policy, now=NOW)
    assert {c.name for c in plan.runs} == {"old-dead", "old-plain"}
    assert set(plan.protected) == {"old-running", "old-source"}
    report = gc(store, policy, now=NOW)
    assert set(report.runs) == {"old-dead", "old-plain"}
    assert set(report.protected) == {"old-running", "old-source"}
    assert run_names(store) == {"old-running", "old-source", "recovering"}
    assert len(store.list_actions("old-running")) == 3
    assert len(store.logs("old-source")) == 6
    # Even asked to keep nothing, gc leaves runs in progress alone.
    gc(store, GcPolicy(keep=0), now=NOW)
    assert run_names(store) == {"old-running", "old-source", "recovering"}


def test_a_run_that_starts_being_recovered_after_the_plan_is_skipped(store: Any) -> None:
    seed_run(store, "old-a", age_days=40, phase="FAILED")
    seed_run(store, "old-b", age_days=40)
    policy = GcPolicy(older_than=30 * DAY)
    plan = plan_gc(store, policy, now=NOW)
    assert {c.name for c in plan.runs} == {"old-a", "old-b"}
    seed_run(store, "recovering", phase="RUNNING", recovered_from="old-a")

    report = gc(store, policy, now=NOW, plan=plan)
    assert report.runs == ["old-b"]
    assert report.skipped == ["old-a"]
    assert run_names(store) == {"old-a", "recovering"}
    assert len(store.list_actions("old-a")) == 3


def test_failed_only_counts_a_run_whose_driver_died(store: Any) -> None:
    seed_run(store, "dead", age_days=3, phase="RUNNING", alive=False)
    seed_run(store, "fine", age_days=3)
    report = gc(store, GcPolicy(failed_only=True), now=NOW)
    assert report.runs == ["dead"]


def _age_cache(store: Any, key: str, days: float) -> None:
    entry, blob = store.cache_get(key)
    store.write(
        [
            (
                "cache_put",
                {
                    "key": key,
                    "task": entry.task,
                    "parts": entry.parts,
                    "outputs_json": entry.outputs_json,
                    "outputs_blob": blob,
                    "created_at": NOW - days * DAY,
                    "run": entry.run,
                    "action": entry.action,
                },
            )
        ]
    )


def test_stale_cache_entries_go_unless_a_kept_run_reads_them(store: Any) -> None:
    import flyte

    env = flyte.TaskEnvironment("gc_cache")

    @env.task(cache="auto")
    def square(x: int) -> int:
        return x * x

    @env.task
    def main(xs: list[int]) -> list[int]:
        return [square(x) for x in xs]

    first = flyte.with_runcontext(name="first").run(main, [1, 2])
    second = flyte.with_runcontext(name="second").run(main, [1])
    hit = next(a for a in second.actions() if a.cache_status.value == "hit")
    store.write([("run_update", "first", {"created_at": NOW - 40 * DAY})])
    keys = {e.key: e for e in store.cache_entries()}
    assert len(keys) == 2
    for key in keys:
        _age_cache(store, key, 10)

    policy = GcPolicy(older_than=30 * DAY, cache_older_than=7 * DAY)
    plan = plan_gc(store, policy, now=NOW)
    assert [c.name for c in plan.runs] == [first.name]
    assert plan.cache_kept == 1
    report = gc(store, policy, now=NOW)
    assert report.cache_entries == 1 and report.cache_kept == 1
    assert [e.key for e in store.cache_entries()] == [hit.cache_key]
    # The kept run's cache hit still has its outputs.
    from flyte import _serde

    assert _serde.loads(store.get_blob("second", hit.id, "outputs")) == 1
    assert check(store).ok

    # Once no run reads it, the stale entry goes too.
    gc(store, GcPolicy(keep=0, cache_older_than=7 * DAY), now=NOW)
    assert store.cache_entries() == []
    assert check(store).ok


def test_fresh_cache_entries_stay(store: Any) -> None:
    import flyte

    env = flyte.TaskEnvironment("gc_fresh")

    @env.task(cache="auto")
    def one() -> int:
        return 1

    flyte.run(one)
    report = gc(store, GcPolicy(cache_older_than=7 * DAY), now=NOW)
    assert report.cache_entries == 0
    assert len(store.cache_entries()) == 1


def test_stats_count_rows_and_name_the_biggest_runs(store: Any) -> None:
    seed_run(store, "small", actions=2, logs=1)
    seed_run(store, "big", actions=5, logs=4, line="x" * 500)
    seed_run(store, "going", phase="RUNNING")
    result = stats(store, biggest=2)
    assert result.runs == 3
    assert result.runs_by_phase == {"SUCCEEDED": 2, "RUNNING": 1}
    assert result.active == 1
    assert result.actions == 10
    assert result.attempts == 10
    assert result.logs == 2 + 20 + 6
    assert result.blob_bytes > 0
    assert [b["name"] for b in result.biggest] == ["big", "going"]
    assert result.biggest[0]["actions"] == 5 and result.biggest[0]["logs"] == 20


def test_stats_count_the_attempts_action_rows_imply(store: Any) -> None:
    import asyncio

    import flyte

    env = flyte.TaskEnvironment("stats_implied")

    @env.task
    async def leaf(i: int) -> int:
        return i

    @env.task
    async def fan(n: int) -> int:
        return sum(await asyncio.gather(*(leaf(i) for i in range(n))))

    flyte.run(fan, 3)  # every attempt ran inline and succeeded at once: no attempts rows
    result = stats(store)
    assert (result.actions, result.attempts) == (4, 4)
    assert check(store).ok


def test_check_finds_an_ended_run_with_a_running_action(store: Any) -> None:
    seed_run(store, "sound")
    assert check(store).ok
    seed_run(store, "broken", phase="FAILED", action_phase="RUNNING")
    result = check(store)
    assert not result.ok
    assert result.problems == [
        "run broken has ended but 3 of its actions are still queued or running"
    ]


def test_check_finds_a_child_without_its_parent(store: Any) -> None:
    seed_run(store, "orphan", actions=0)
    store.write(
        [
            (
                "action_insert",
                {"run": "orphan", "id": "0123456789ab", "parent": "a0", "name": "demo.child", "phase": "SUCCEEDED"},
            )
        ]
    )  # fmt: skip
    assert check(store).problems == ["action 0123456789ab of run orphan has no parent action"]


def test_parse_age_and_policy_validation() -> None:
    assert parse_age("30d") == 30 * DAY
    assert parse_age(" 90m ") == 5400
    assert parse_age("1.5h") == 5400
    assert parse_age("2w") == 14 * DAY
    for bad in ("30", "d", "-1d", "3 days", ""):
        with pytest.raises(InvalidOptionError, match="is not an age like 30d"):
            parse_age(bad)
    with pytest.raises(InvalidOptionError, match="keep must be >= 0"):
        GcPolicy(keep=-1)
    assert GcPolicy().empty and not GcPolicy(keep=3).empty


def test_upkeep_refuses_a_store_it_cannot_reach() -> None:
    class Elsewhere:
        path = "http://example.invalid"

    with pytest.raises(UserError, match="works on a local store"):
        plan_gc(Elsewhere(), GcPolicy(keep=0))  # type: ignore[arg-type]


# -- SQLite only -------------------------------------------------------------------------


def test_gc_in_tiny_transactions_deletes_whole_runs(sqlite_store: Any) -> None:
    for i in range(3):
        seed_run(sqlite_store, f"old-{i}", age_days=40, actions=400, logs=3)
    seed_run(sqlite_store, "new", actions=50)
    report = gc(sqlite_store, GcPolicy(older_than=30 * DAY), now=NOW, budget=0.005)
    assert sorted(report.runs) == ["old-0", "old-1", "old-2"]
    assert report.rows == {"actions": 1200, "attempts": 1200, "logs": 3600, "reports": 0}
    assert report.transactions > 3
    assert run_names(sqlite_store) == {"new"}
    assert len(sqlite_store.list_actions("new")) == 50
    assert check(sqlite_store).ok


def test_gc_deletes_the_rows_of_tables_added_later(sqlite_store: Any) -> None:
    # A later migration (0003_reports) added a table whose rows belong to a run: gc finds it
    # by its foreign key, with no list to update.
    seed_run(sqlite_store, "old", age_days=40)
    seed_run(sqlite_store, "new")
    sqlite_store.write(
        [
            (
                "report_put",
                {"run": r, "action": a, "attempt": 1, "tabs": {"main": "<p>hi</p>"}, "ts": NOW},
            )
            for r, a in (("old", "a0"), ("old", "a1"), ("new", "a0"))
        ]
    )
    # ... and one that points at actions, not at runs, with no cascade.
    conn = sqlite_store._conn()
    conn.execute(
        "CREATE TABLE notes (run TEXT NOT NULL, action TEXT NOT NULL, text TEXT, "
        "FOREIGN KEY (run, action) REFERENCES actions(run, id))"
    )
    conn.executemany("INSERT INTO notes VALUES (?, 'a0', 'n')", [("old",), ("new",)])
    report = gc(sqlite_store, GcPolicy(older_than=30 * DAY), now=NOW)
    assert report.runs == ["old"]
    assert report.rows["reports"] == 2 and report.rows["notes"] == 1
    assert sqlite_store.report_actions("old") == [] and sqlite_store.report_actions("new") == ["a0"]
    assert [tuple(r) for r in conn.execute("SELECT run FROM notes")] == [("new",)]
    assert check(sqlite_store).ok


def _file_size(store: Any) -> int:
    return sum(
        os.path.getsize(store.path + s) for s in ("", "-wal") if os.path.exists(store.path + s)
    )


def test_gc_frees_space_and_leaves_a_sound_store(sqlite_store: Any) -> None:
    for i in range(20):
        seed_run(sqlite_store, f"old-{i}", age_days=40, actions=5, logs=20, line="x" * 2000)
    seed_run(sqlite_store, "new", actions=5, logs=20, line="y" * 2000)
    sqlite_store._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = _file_size(sqlite_store)
    report = gc(sqlite_store, GcPolicy(older_than=30 * DAY), now=NOW)
    after = _file_size(sqlite_store)
    assert len(report.runs) == 20
    assert report.bytes_freed is not None and report.bytes_freed > 3_000_000
    assert after < before - 3_000_000, (before, after)
    assert report.size_after == after and report.note is None
    assert check(sqlite_store).ok
    assert len(sqlite_store.logs("new")) == 100


def _legacy_store(path: Path) -> Any:
    """A store created before incremental vacuum (auto_vacuum = NONE)."""
    from flyte._store.migrations import migrate
    from flyte._store.sqlite import SqliteRunStore

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    migrate(conn, str(path))
    conn.close()
    return SqliteRunStore(path)


def test_vacuum_shrinks_a_legacy_store_and_enables_incremental_gc(tmp_path: Path) -> None:
    store = _legacy_store(tmp_path / "runs.db")
    assert store._conn().execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    for i in range(10):
        seed_run(store, f"old-{i}", age_days=40, actions=5, logs=20, line="x" * 2000)
    seed_run(store, "going", phase="RUNNING")
    report = gc(store, GcPolicy(older_than=30 * DAY), now=NOW)
    assert len(report.runs) == 10
    assert report.note is not None and "flyte db vacuum" in report.note
    full = _file_size(store)

    with pytest.raises(UserError, match="run going is in progress"):
        vacuum(store)
    result = vacuum(store, force=True)
    assert result.size_before == full
    assert result.size_after is not None and result.size_after < full - 1_000_000
    assert _file_size(store) == result.size_after
    assert store._conn().execute("PRAGMA auto_vacuum").fetchone()[0] == 2
    assert check(store).ok
    assert len(store.list_actions("going")) == 3


def test_check_finds_foreign_key_orphans_and_broken_views(sqlite_store: Any) -> None:
    seed_run(sqlite_store, "sound")
    raw = sqlite3.connect(sqlite_store.path, isolation_level=None)
    raw.execute("PRAGMA foreign_keys = OFF")
    raw.execute(
        "INSERT INTO logs (run, action, attempt, ts, stream, line) "
        "VALUES ('ghost', 'a0', 1, 0, 'stdout', 'boo')"
    )
    raw.execute("DROP VIEW cache_v1")
    raw.close()
    problems = check(sqlite_store).problems
    assert any(
        p.startswith("row ") and "of logs points to a missing runs row" in p for p in problems
    )
    assert any(p.startswith("public view cache_v1 cannot be read") for p in problems)


def test_check_integrity_finds_a_damaged_file(tmp_path: Path) -> None:
    from flyte._store.sqlite import SqliteRunStore

    path = tmp_path / "runs.db"
    store = SqliteRunStore(path)
    for i in range(30):
        seed_run(store, f"r{i}", actions=10, logs=10, line="z" * 500)
    conn = store._conn()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'logs_run'").fetchone()[0]
    store.close()
    # Scribble over the root page of one index: the tables still read, the index is broken.
    with open(path, "r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(b"\xff" * page_size)
    result = check(SqliteRunStore(path))
    assert not result.ok
    assert result.problems[0].startswith("integrity"), result.problems


# -- offloaded value files (blobs/) ------------------------------------------------------

_PREFIX = b"FLYTEBLOB:"


@pytest.fixture
def blob_refs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reference format of offloaded values (flyte._store.blobs), as the sweep sees it."""
    import sys
    import types

    monkeypatch.setitem(
        sys.modules, "flyte._store.blobs", types.SimpleNamespace(REF_PREFIX=_PREFIX)
    )


def _blob(folder: Path, fill: str, *, age: float = 2 * DAY) -> str:
    digest = fill * 64
    folder.mkdir(exist_ok=True)
    (folder / digest).write_bytes(b"v" * 1000)
    then = time.time() - age
    os.utime(folder / digest, (then, then))
    return digest


def _refer(store: Any, run: str, digest: str) -> None:
    store.write([("action_update", run, "a0", {"outputs_blob": _PREFIX + digest.encode()})])


def test_gc_deletes_value_files_no_row_refers_to(sqlite_store: Any, blob_refs: None) -> None:
    folder = Path(sqlite_store.path).parent / "blobs"
    seed_run(sqlite_store, "old", age_days=40)
    seed_run(sqlite_store, "new")
    kept = _blob(folder, "a")
    _refer(sqlite_store, "new", kept)
    of_old_run = _blob(folder, "b")
    _refer(sqlite_store, "old", of_old_run)
    orphan = _blob(folder, "c")
    just_written = _blob(folder, "d", age=0)  # its row may be about to commit
    abandoned = folder / f".{'e' * 64}.123.tmp"
    abandoned.write_bytes(b"half")
    os.utime(abandoned, (NOW - DAY, NOW - DAY))

    report = gc(sqlite_store, GcPolicy(older_than=30 * DAY), now=NOW)
    assert report.runs == ["old"]
    assert (report.blob_files, report.blob_bytes) == (2, 2000)
    assert sorted(p.name for p in folder.iterdir()) == [kept, just_written]
    assert not (folder / orphan).exists() and not (folder / of_old_run).exists()
    assert check(sqlite_store).ok

    (folder / kept).unlink()
    assert check(sqlite_store).problems == [f"offloaded value file blobs/{kept} is missing"]


def test_a_store_written_all_along_keeps_its_value_files(
    sqlite_store: Any, blob_refs: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from flyte._store import blob_sweep

    folder = Path(sqlite_store.path).parent / "blobs"
    orphan = _blob(folder, "c")
    real = blob_sweep._references

    def references_while_a_run_writes(conn: Any, prefix: bytes) -> set[str]:
        # Another connection commits between the snapshot and the lock: it might have
        # reused the orphan file, so the sweep must not trust its snapshot.
        found = real(conn, prefix)
        writer = threading.Thread(target=seed_run, args=(sqlite_store, f"r{time.monotonic()}"))
        writer.start()
        writer.join()
        return found

    monkeypatch.setattr(blob_sweep, "_references", references_while_a_run_writes)
    result = blob_sweep.sweep_blobs(sqlite_store)
    assert result.files == 0 and result.note is not None
    assert (folder / orphan).exists()
    monkeypatch.setattr(blob_sweep, "_references", real)
    assert blob_sweep.sweep_blobs(sqlite_store).files == 1


def test_a_run_under_a_live_recovery_lease_is_kept(sqlite_store: Any) -> None:
    # Stores with recovery leases (one recovery of a run at a time): the lease is taken
    # before the recovering run is recorded, so the lease alone must protect its source.
    import socket

    conn = sqlite_store._conn()
    conn.execute(
        "CREATE TABLE IF NOT EXISTS recovery_leases (source TEXT PRIMARY KEY, run TEXT NOT NULL, "
        "pid INTEGER, host TEXT, pid_start TEXT, taken_at REAL NOT NULL)"
    )
    for name in ("leased", "lease-ended", "plain"):
        seed_run(sqlite_store, name, age_days=40, phase="FAILED")
    seed_run(sqlite_store, "finished-recovery", phase="SUCCEEDED")
    conn.executemany(
        "INSERT INTO recovery_leases (source, run, pid, host, taken_at) VALUES (?, ?, ?, ?, ?)",
        [
            ("leased", "not-yet-recorded", os.getpid(), socket.gethostname(), NOW),
            ("lease-ended", "finished-recovery", os.getpid(), socket.gethostname(), NOW),
        ],
    )
    plan = plan_gc(sqlite_store, GcPolicy(older_than=30 * DAY), now=NOW)
    assert plan.protected == ["leased"]
    report = gc(sqlite_store, GcPolicy(older_than=30 * DAY), now=NOW)
    assert sorted(report.runs) == ["lease-ended", "plain"]
    assert "leased" in run_names(sqlite_store)
    assert [r[0] for r in conn.execute("SELECT source FROM recovery_leases")] == ["leased"]
