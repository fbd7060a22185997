"""What is in a store (`stats`) and whether it is sound (`check`), for `flyte db`.

Both only read. `check` runs SQLite's own integrity and foreign-key checks, then the
invariants the engine promises and gc must keep; a list of problems comes back, empty
when the store is sound.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from flyte._store.blob_sweep import blob_folder, missing_blobs
from flyte._store.gc_plan import ACTIVE, is_alive, is_sqlite
from flyte._store.upkeep import sizes
from flyte.errors import StoreError

__all__ = ["CheckResult", "StoreStats", "check", "stats"]


@dataclass(kw_only=True)
class StoreStats:
    """Row counts and sizes of a run store."""

    path: str
    runs: int
    runs_by_phase: dict[str, int]
    active: int
    actions: int
    attempts: int
    logs: int
    cache_entries: int
    deployed: int
    blob_bytes: int
    """Bytes of exact (pickled) values: inputs, outputs, code snapshots, cached outputs."""
    offloaded_files: int = 0
    """Values too big for a row, kept as files in blobs/ beside the store."""
    offloaded_bytes: int = 0
    file_bytes: int | None = None
    wal_bytes: int | None = None
    data_bytes: int | None = None
    free_bytes: int | None = None
    incremental_vacuum: bool | None = None
    biggest: list[dict[str, Any]] = field(default_factory=list)
    """The runs holding the most bytes: name, task, phase, created_at, actions, logs, bytes."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(kw_only=True)
class CheckResult:
    """The problems found (the store is broken when there is any) and informational notes."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _scalar(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...] = ()) -> int:
    return int(conn.execute(sql, params).fetchall()[0][0] or 0)


def stats(store: Any, *, biggest: int = 5) -> StoreStats:
    """Counts, bytes and the `biggest` runs of `store`.

    Raises:
        StoreError: the store could not be read.
    """
    if not is_sqlite(store):
        return _memory_stats(store, biggest)
    try:
        return _sqlite_stats(store, biggest)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"run store {store.path} could not be read: {exc}") from exc


def _sqlite_stats(store: Any, biggest: int) -> StoreStats:
    conn: sqlite3.Connection = store._conn()
    phases = dict(conn.execute("SELECT phase, count(*) FROM runs GROUP BY phase").fetchall())
    active = conn.execute(
        "SELECT name, phase, pid, host, heartbeat, pid_start FROM runs WHERE phase IN (?, ?)",
        ACTIVE,
    ).fetchall()
    blob = (
        _scalar(
            conn,
            "SELECT sum(coalesce(length(inputs_blob), 0) + coalesce(length(outputs_blob), 0) "
            "+ coalesce(length(task_blob), 0)) FROM runs",
        )
        + _scalar(
            conn,
            "SELECT sum(coalesce(length(inputs_blob), 0) + coalesce(length(outputs_blob), 0)) "
            "FROM actions",
        )
        + _scalar(conn, "SELECT sum(length(outputs_blob)) FROM cache")
        + _scalar(conn, "SELECT sum(length(snapshot)) FROM deployed_tasks")
    )
    # Bytes per run: its actions' values and JSON forms plus its log lines.
    per_run: dict[str, list[int]] = {}
    for run, n, size in conn.execute(
        "SELECT run, count(*), sum(coalesce(length(inputs_blob), 0) "
        "+ coalesce(length(outputs_blob), 0) + length(inputs_json) "
        "+ coalesce(length(outputs_json), 0) + coalesce(length(traceback), 0)) "
        "FROM actions GROUP BY run"
    ):
        per_run[run] = [n, 0, size or 0]
    for run, n, size in conn.execute(
        "SELECT run, count(*), sum(length(line)) FROM logs GROUP BY run"
    ):
        entry = per_run.setdefault(run, [0, 0, 0])
        entry[1] = n
        entry[2] += size or 0
    top = sorted(per_run.items(), key=lambda kv: kv[1][2], reverse=True)[:biggest]
    runs_info = {
        r["name"]: r
        for r in conn.execute(
            "SELECT name, task, phase, created_at FROM runs WHERE name IN (SELECT value FROM json_each(?))",
            (_json([name for name, _ in top]),),
        )
    }
    folder = blob_folder(store)
    offloaded = [f.stat().st_size for f in folder.iterdir()] if folder.is_dir() else []
    file_bytes = _size(store.path)
    wal_bytes = _size(store.path + "-wal")
    page_size = _scalar(conn, "PRAGMA page_size")
    free = _scalar(conn, "PRAGMA freelist_count") * page_size
    _, data = sizes(store)
    return StoreStats(
        path=store.path,
        runs=sum(phases.values()),
        runs_by_phase=phases,
        active=sum(1 for r in active if is_alive(r)),
        actions=_scalar(conn, "SELECT count(*) FROM actions"),
        attempts=_scalar(conn, "SELECT count(*) FROM attempts_v1"),  # with implied ones
        logs=_scalar(conn, "SELECT count(*) FROM logs"),
        cache_entries=_scalar(conn, "SELECT count(*) FROM cache"),
        deployed=_scalar(conn, "SELECT count(*) FROM deployed_tasks"),
        blob_bytes=blob,
        offloaded_files=len(offloaded),
        offloaded_bytes=sum(offloaded),
        file_bytes=file_bytes,
        wal_bytes=wal_bytes,
        data_bytes=data,
        free_bytes=free,
        incremental_vacuum=_scalar(conn, "PRAGMA auto_vacuum") == 2,
        biggest=[
            {
                "name": name,
                "task": runs_info[name]["task"] if name in runs_info else None,
                "phase": runs_info[name]["phase"] if name in runs_info else None,
                "created_at": runs_info[name]["created_at"] if name in runs_info else None,
                "actions": n,
                "logs": logs,
                "bytes": size,
            }
            for name, (n, logs, size) in top
        ],
    )


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _blen(value: Any) -> int:
    return len(value) if isinstance(value, bytes | str) else 0


def _memory_stats(store: Any, biggest: int) -> StoreStats:
    with store._lock:
        runs = list(store._runs.values())
        actions = {run: list(a.values()) for run, a in store._actions.items()}
        logs = list(store._logs)
        cache = list(store._cache.values())
        deployed = list(store._deployed.values())
    # Recorded attempts and those action rows imply, as the store lists them.
    attempts = sum(len(store.list_attempts(r["name"])) for r in runs)
    phases: dict[str, int] = {}
    for r in runs:
        phases[r["phase"]] = phases.get(r["phase"], 0) + 1
    per_run: dict[str, list[int]] = {}
    for run, rows in actions.items():
        size = sum(
            _blen(a["inputs_blob"])
            + _blen(a["outputs_blob"])
            + _blen(a["inputs_json"])
            + _blen(a["outputs_json"])
            + _blen(a["traceback"])
            for a in rows
        )
        per_run[run] = [len(rows), 0, size]
    for line in logs:
        entry = per_run.setdefault(line["run"], [0, 0, 0])
        entry[1] += 1
        entry[2] += len(line["line"])
    by_name = {r["name"]: r for r in runs}
    top = sorted(per_run.items(), key=lambda kv: kv[1][2], reverse=True)[:biggest]
    blob = (
        sum(
            _blen(r["inputs_blob"]) + _blen(r["outputs_blob"]) + _blen(r["task_blob"]) for r in runs
        )
        + sum(
            _blen(a["inputs_blob"]) + _blen(a["outputs_blob"])
            for rows in actions.values()
            for a in rows
        )
        + sum(_blen(c["outputs_blob"]) for c in cache)
        + sum(_blen(d["snapshot"]) for d in deployed)
    )
    return StoreStats(
        path=store.path,
        runs=len(runs),
        runs_by_phase=phases,
        active=sum(1 for r in runs if is_alive(r)),
        actions=sum(len(rows) for rows in actions.values()),
        attempts=attempts,
        logs=len(logs),
        cache_entries=len(cache),
        deployed=len(deployed),
        blob_bytes=blob,
        biggest=[
            {
                "name": name,
                "task": by_name.get(name, {}).get("task"),
                "phase": by_name.get(name, {}).get("phase"),
                "created_at": by_name.get(name, {}).get("created_at"),
                "actions": n,
                "logs": n_logs,
                "bytes": size,
            }
            for name, (n, n_logs, size) in top
        ],
    )


# -- check ------------------------------------------------------------------------------

# (name, SQL returning one row per violation as (run, detail), message prefix)
_INVARIANTS: list[tuple[str, str, str]] = [
    (
        "every ended run has no queued or running action",
        "SELECT a.run, count(*) FROM actions a JOIN runs r ON r.name = a.run "
        "WHERE r.phase NOT IN ('QUEUED', 'RUNNING') AND a.phase IN ('QUEUED', 'RUNNING') "
        "GROUP BY a.run",
        "run {0} has ended but {1} of its actions are still queued or running",
    ),
    (
        "every cache entry has its outputs",
        "SELECT key, task FROM cache WHERE outputs_blob IS NULL OR length(outputs_blob) = 0",
        "cache entry {0} ({1}) has no outputs",
    ),
    (
        "every action of an ended run has its parent",
        "SELECT a.run, a.id FROM actions a JOIN runs r ON r.name = a.run "
        "WHERE r.phase NOT IN ('QUEUED', 'RUNNING') AND a.parent IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM actions p WHERE p.run = a.run AND p.id = a.parent)",
        "action {1} of run {0} has no parent action",
    ),
    (
        "every attempt of an ended run belongs to an action",
        "SELECT t.run, t.action FROM attempts t JOIN runs r ON r.name = t.run "
        "WHERE r.phase NOT IN ('QUEUED', 'RUNNING') "
        "AND NOT EXISTS (SELECT 1 FROM actions a WHERE a.run = t.run AND a.id = t.action)",
        "run {0} has attempts of an unknown action {1}",
    ),
]

_HIT_WITHOUT_ENTRY = (
    "SELECT count(*) FROM actions a WHERE a.cache_status = 'hit' AND a.outputs_blob IS NULL "
    "AND a.cache_key IS NOT NULL AND NOT EXISTS (SELECT 1 FROM cache c WHERE c.key = a.cache_key)"
)
_MAX_LISTED = 20


def check(store: Any, *, integrity: bool = True) -> CheckResult:
    """SQLite's integrity and foreign-key checks plus the store's own invariants.

    Args:
        store: a SqliteRunStore or MemoryRunStore.
        integrity: run `PRAGMA integrity_check` (reads every page: slow on a big store).

    A query that fails on a damaged file is reported as a problem, not raised.
    """
    if not is_sqlite(store):
        return _memory_check(store)
    from flyte._store.migrations import PUBLIC_VIEWS

    result = CheckResult()
    conn: sqlite3.Connection = store._conn()

    def run(name: str, sql: str) -> list[Any]:
        # A damaged file can fail any query: that is a finding, not a reason to stop.
        result.checks.append(name)
        try:
            return conn.execute(sql).fetchall()
        except sqlite3.DatabaseError as exc:
            result.problems.append(f"{name}: the check failed: {exc}")
            return []

    if integrity:
        rows = [r[0] for r in run("integrity_check", "PRAGMA integrity_check")]
        if rows and rows != ["ok"]:
            result.problems += [f"integrity: {r}" for r in rows[:_MAX_LISTED]]
    for table, rowid, parent, _ in run("foreign_key_check", "PRAGMA foreign_key_check")[
        :_MAX_LISTED
    ]:
        result.problems.append(f"row {rowid} of {table} points to a missing {parent} row")
    for name, sql, message in _INVARIANTS:
        rows = run(name, sql)
        result.problems += [message.format(*r) for r in rows[:_MAX_LISTED]]
        if len(rows) > _MAX_LISTED:
            result.problems.append(f"... and {len(rows) - _MAX_LISTED} more like it")
    result.checks.append("the public views can be read")
    for view in PUBLIC_VIEWS:
        try:
            conn.execute(f"SELECT * FROM {view} LIMIT 0").fetchall()
        except sqlite3.DatabaseError as exc:
            result.problems.append(f"public view {view} cannot be read: {exc}")
    result.checks.append("every offloaded value has its file")
    try:
        missing = missing_blobs(store)
    except sqlite3.DatabaseError as exc:
        result.problems.append(f"offloaded values: the check failed: {exc}")
        missing = []
    result.problems += [f"offloaded value file blobs/{d} is missing" for d in missing[:_MAX_LISTED]]
    hits = run("cache hits have their outputs", _HIT_WITHOUT_ENTRY)
    if hits and hits[0][0]:
        result.notes.append(_hits_note(hits[0][0]))
    return result


def _hits_note(n: int) -> str:
    # Not a fault: `flyte cache clear` removes entries that earlier hits read their outputs
    # from; the outputs' JSON form stays, and a recovery re-executes those actions.
    return (
        f"{n} cache-hit action(s) no longer have their cached outputs (the entries were "
        "cleared); recovering their runs executes them again"
    )


def _memory_check(store: Any) -> CheckResult:
    result = CheckResult(checks=[name for name, _, _ in _INVARIANTS])
    with store._lock:
        runs = dict(store._runs)
        actions = {run: dict(a) for run, a in store._actions.items()}
        attempts = list(store._attempts)
        cache = dict(store._cache)
    for name, row in runs.items():
        if row["phase"] in ACTIVE:
            continue
        mine = actions.get(name, {})
        busy = [a for a in mine.values() if a["phase"] in ACTIVE]
        if busy:
            result.problems.append(
                f"run {name} has ended but {len(busy)} of its actions are still queued or running"
            )
        for a in mine.values():
            if a["parent"] is not None and a["parent"] not in mine:
                result.problems.append(f"action {a['id']} of run {name} has no parent action")
    for run, action, _ in attempts:
        if run in runs and runs[run]["phase"] not in ACTIVE and action not in actions.get(run, {}):
            result.problems.append(f"run {run} has attempts of an unknown action {action}")
    for key, entry in cache.items():
        if not entry.get("outputs_blob"):
            result.problems.append(f"cache entry {key} ({entry['task']}) has no outputs")
    hits = sum(
        1
        for rows in actions.values()
        for a in rows.values()
        if a["cache_status"] == "hit" and a["outputs_blob"] is None and a["cache_key"] not in cache
    )
    if hits:
        result.notes.append(_hits_note(hits))
    return result
