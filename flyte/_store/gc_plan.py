"""What gc would delete: the policy, the selection of runs and cache entries, the plan.

Shared by both stores. A run is selected when it meets every condition of the policy;
it is protected (never deleted) while it is QUEUED/RUNNING with a live driver, or while a
live run recovers from it. A stale cache entry is kept while an action of a kept run
reads its outputs from it (a cache hit stores no outputs of its own).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flyte._store import driver_is_dead
from flyte.errors import InvalidOptionError, UserError

if TYPE_CHECKING:
    from flyte._store import RunStore

__all__ = [
    "ACTIVE",
    "NOT_SUCCEEDED",
    "RUN_FIELDS",
    "GcPlan",
    "GcPolicy",
    "RunCandidate",
    "active_runs",
    "is_alive",
    "is_sqlite",
    "leased_sources",
    "parse_age",
    "plan_gc",
    "protected_runs",
    "run_fields",
]

ACTIVE = ("QUEUED", "RUNNING")
NOT_SUCCEEDED = ("FAILED", "TIMED_OUT", "ABORTED")
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_age(text: str) -> float:
    """`90s`, `30m`, `12h`, `30d`, `2w` as seconds.

    Raises:
        InvalidOptionError: the text is not such an age.
    """
    match = _AGE.match(str(text))
    if not match:
        raise InvalidOptionError(f"{text!r} is not an age like 30d, 12h, 90m or 2w")
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True, kw_only=True)
class GcPolicy:
    """What gc deletes; a run goes when it meets every condition given.

    Example:
        policy = GcPolicy(older_than=parse_age("30d"), keep=100, cache_older_than=7 * 86400)
        report = gc(store, policy)
        print(report.runs, report.bytes_freed)
    """

    older_than: float | None = None
    """Seconds: runs created longer ago than this."""
    keep: int | None = None
    """Never the `keep` newest runs (of those `failed_only` considers)."""
    failed_only: bool = False
    """Only runs that did not succeed (FAILED, TIMED_OUT, ABORTED, or whose driver died)."""
    cache_older_than: float | None = None
    """Seconds: cache entries written longer ago than this (and read by no kept run)."""

    def __post_init__(self) -> None:
        for name in ("older_than", "cache_older_than", "keep"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise InvalidOptionError(f"{name} must be >= 0, got {value}")

    @property
    def selects_runs(self) -> bool:
        return self.older_than is not None or self.keep is not None or self.failed_only

    @property
    def empty(self) -> bool:
        return not self.selects_runs and self.cache_older_than is None


@dataclass(frozen=True, kw_only=True)
class RunCandidate:
    """A run gc would delete, with the rows that go with it."""

    name: str
    task: str
    phase: str
    created_at: float
    actions: int = 0
    logs: int = 0


@dataclass(kw_only=True)
class GcPlan:
    """What a gc would delete now (a dry run shows this; `gc` deletes it)."""

    runs: list[RunCandidate]
    protected: list[str]
    """Runs the policy selects but that are in progress or being recovered."""
    cache_keys: list[str]
    cache_kept: int
    """Stale cache entries kept because a kept run's action reads its outputs from them."""
    made_at: float


def _get(row: Any, key: str) -> Any:
    keys = row.keys()
    return row[key] if key in keys else None


def _dead(pid: Any, host: Any, heartbeat: Any, pid_start: Any) -> bool:
    if pid_start is None:
        return driver_is_dead(pid, host, heartbeat)
    # Stores that record the driver's start time judge a reused pid right.
    return driver_is_dead(pid, host, heartbeat, pid_start)  # type: ignore[call-arg]


def is_alive(row: Any) -> bool:
    """A QUEUED/RUNNING run whose driver still lives."""
    return row["phase"] in ACTIVE and not _dead(
        row["pid"], row["host"], row["heartbeat"], _get(row, "pid_start")
    )


def protected_runs(rows: Sequence[Any], leased: set[str] | None = None) -> set[str]:
    """Runs in progress, the runs they recover from, and runs under a live recovery lease."""
    names: set[str] = set(leased or ())
    for row in rows:
        if is_alive(row):
            names.add(row["name"])
            if row["recovered_from"]:
                names.add(row["recovered_from"])
    return names


def _columns(conn: Any, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f'PRAGMA table_info("{table}")').fetchall()}


def run_fields(conn: Any) -> str:
    """The runs columns liveness needs (with the driver's start time where it is kept)."""
    return RUN_FIELDS + (", pid_start" if "pid_start" in _columns(conn, "runs") else "")


def leased_sources(conn: Any) -> set[str]:
    """Runs a recovery has leased (stores with recovery leases) while the lease's holder
    lives: the recovering run if it was recorded, else the process that took the lease."""
    lease_columns = _columns(conn, "recovery_leases")
    if not {"source", "run", "pid", "host"} <= lease_columns:
        return set()
    start = "r.pid_start" if "pid_start" in _columns(conn, "runs") else "NULL"
    lease_start = "l.pid_start" if "pid_start" in lease_columns else "NULL"
    rows = conn.execute(
        f"SELECT l.source, l.pid, l.host, {lease_start}, r.phase, r.pid, r.host, r.heartbeat, "
        f"{start} FROM recovery_leases l LEFT JOIN runs r ON r.name = l.run"
    ).fetchall()
    now = time.time()
    held = set()
    for source, pid, host, pid_start, phase, rpid, rhost, heartbeat, rstart in rows:
        if phase is not None:
            alive = phase in ACTIVE and not _dead(rpid, rhost, heartbeat, rstart)
        else:
            alive = not _dead(pid, host, now, pid_start)
        if alive:
            held.add(source)
    return held


def _select(
    rows: Sequence[Any], policy: GcPolicy, now: float, leased: set[str]
) -> tuple[list[Any], list[str]]:
    """(runs to delete, runs selected but protected), newest first."""
    if not policy.selects_runs:
        return [], []
    ordered = sorted(rows, key=lambda r: r["created_at"], reverse=True)
    if policy.failed_only:
        # A run whose driver died reads as ABORTED, so it counts as not succeeded.
        ordered = [
            r
            for r in ordered
            if r["phase"] in NOT_SUCCEEDED or (r["phase"] in ACTIVE and not is_alive(r))
        ]
    if policy.keep is not None:
        ordered = ordered[policy.keep :]
    if policy.older_than is not None:
        cutoff = now - policy.older_than
        ordered = [r for r in ordered if r["created_at"] < cutoff]
    protected = protected_runs(rows, leased)
    return (
        [r for r in ordered if r["name"] not in protected],
        [r["name"] for r in ordered if r["name"] in protected],
    )


def is_sqlite(store: RunStore) -> bool:
    from flyte._store.memory import MemoryRunStore
    from flyte._store.sqlite import SqliteRunStore

    if isinstance(store, SqliteRunStore):
        return True
    if isinstance(store, MemoryRunStore):
        return False
    raise UserError(
        f"store upkeep works on a local store; {store!r} is not one "
        "(run it where the store lives, e.g. on the server)"
    )


RUN_FIELDS = "name, task, phase, created_at, pid, host, heartbeat, recovered_from"


def _run_rows(store: Any) -> list[Any]:
    if is_sqlite(store):
        fields = run_fields(store._conn())
        return store._query(f"SELECT {fields} FROM runs")  # type: ignore[no-any-return]
    with store._lock:
        return [dict(r) for r in store._runs.values()]


def _leased(store: Any) -> set[str]:
    return leased_sources(store._conn()) if is_sqlite(store) else set()


def active_runs(store: RunStore) -> list[str]:
    """Names of the runs in progress (QUEUED/RUNNING with a live driver)."""
    return [r["name"] for r in _run_rows(store) if is_alive(r)]


def plan_gc(store: RunStore, policy: GcPolicy, *, now: float | None = None) -> GcPlan:
    """What `gc(store, policy)` would delete now, with each run's action and log counts."""
    now = time.time() if now is None else now
    made_at = time.time()
    rows = _run_rows(store)
    doomed, protected = _select(rows, policy, now, _leased(store))
    names = [r["name"] for r in doomed]
    if is_sqlite(store):
        actions = _count_by_run(store, "actions", names)
        logs = _count_by_run(store, "logs", names)
    else:
        with store._lock:  # type: ignore[attr-defined]
            actions = {n: len(store._actions.get(n, {})) for n in names}  # type: ignore[attr-defined]
            logs = {}
            wanted = set(names)
            for line in store._logs:  # type: ignore[attr-defined]
                if line["run"] in wanted:
                    logs[line["run"]] = logs.get(line["run"], 0) + 1
    candidates = [
        RunCandidate(
            name=r["name"],
            task=r["task"],
            phase=r["phase"],
            created_at=r["created_at"],
            actions=actions.get(r["name"], 0),
            logs=logs.get(r["name"], 0),
        )
        for r in doomed
    ]
    keys: list[str] = []
    kept = 0
    if policy.cache_older_than is not None:
        keys, kept = _stale_cache(store, now - policy.cache_older_than, set(names))
    return GcPlan(
        runs=candidates, protected=protected, cache_keys=keys, cache_kept=kept, made_at=made_at
    )


def _count_by_run(store: Any, table: str, names: Sequence[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for i in range(0, len(names), 500):
        chunk = json.dumps(list(names[i : i + 500]))
        for run, n in store._query(
            f"SELECT run, count(*) FROM {table} "
            "WHERE run IN (SELECT value FROM json_each(?)) GROUP BY run",
            (chunk,),
        ):
            counts[run] = n
    return counts


def _stale_cache(store: Any, cutoff: float, doomed: set[str]) -> tuple[list[str], int]:
    """(keys of stale entries no kept run reads, how many stale entries are kept)."""
    if is_sqlite(store):
        # One pass over actions (the NOT IN subquery is uncorrelated, built once).
        rows = store._query(
            "SELECT key, key IN (SELECT cache_key FROM actions WHERE cache_key IS NOT NULL "
            "AND outputs_blob IS NULL AND run NOT IN (SELECT value FROM json_each(?))) "
            "FROM cache WHERE created_at < ? ORDER BY created_at",
            (json.dumps(sorted(doomed)), cutoff),
        )
        keys = [r[0] for r in rows if not r[1]]
        return keys, len(rows) - len(keys)
    with store._lock:
        used = {
            a["cache_key"]
            for run, actions in store._actions.items()
            if run not in doomed
            for a in actions.values()
            if a["cache_key"] and a["outputs_blob"] is None
        }
        stale = [k for k, e in store._cache.items() if e["created_at"] < cutoff]
    keys = [k for k in stale if k not in used]
    return keys, len(stale) - len(keys)
