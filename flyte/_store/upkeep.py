"""Store upkeep: `gc` deletes what a plan selects (flyte._store.gc_plan), then gives the
space back; `vacuum` rewrites the file.

gc shares the file with running programs, so it never holds the write lock for long.
Every write is a transaction of about `budget` seconds (20 ms by default): a run's rows go
in chunks sized from the measured delete rate, children before the run row (so no reader
ever sees an orphan), and after each commit gc pauses at least as long as it held the
lock. The pause matters as much as the limit: a writer waiting on `busy_timeout` sleeps in
growing steps (1, 2, 5, 10, 15, 20, 25 ms ...), and without a gap gc would take the lock
again before that writer wakes up. Whether a run may go is checked again inside every
transaction, not only when the plan is made: a run that started, or began to be
recovered, meanwhile is skipped.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flyte._store.blob_sweep import sweep_blobs
from flyte._store.gc_plan import (
    ACTIVE,
    GcPlan,
    GcPolicy,
    RunCandidate,
    active_runs,
    is_alive,
    is_sqlite,
    leased_sources,
    parse_age,
    plan_gc,
    protected_runs,
    run_fields,
)
from flyte.errors import StoreError, UserError

if TYPE_CHECKING:
    from flyte._store import RunStore

__all__ = [
    "BUDGET",
    "GcPlan",
    "GcPolicy",
    "GcReport",
    "RunCandidate",
    "VacuumReport",
    "active_runs",
    "gc",
    "parse_age",
    "plan_gc",
    "sizes",
    "vacuum",
]

BUDGET = 0.02
# The shortest pause between two gc transactions: a writer waiting on busy_timeout retries
# after 1, 3, 8, 18, 33, 53, 78, 103 ms, so a free window of 25 ms always holds a retry.
_MIN_GAP = 0.025


@dataclass(kw_only=True)
class GcReport:
    """What a gc removed (or, with `dry_run`, would remove) and the space it freed."""

    dry_run: bool
    runs: list[str] = field(default_factory=list)
    protected: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Runs planned for deletion that became active or recovered before their turn."""
    rows: dict[str, int] = field(default_factory=dict)
    """Rows deleted per table (actions, attempts, logs, ...), runs excluded."""
    cache_entries: int = 0
    cache_kept: int = 0
    blob_files: int = 0
    """Offloaded value files (blobs/) deleted because no row refers to them any more."""
    blob_bytes: int = 0
    bytes_freed: int | None = None
    """Bytes of data no longer in use (pages freed); None for a memory store or a dry run."""
    size_before: int | None = None
    """The database file plus its write-ahead log, in bytes."""
    size_after: int | None = None
    note: str | None = None
    transactions: int = 0
    max_transaction: float = 0.0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "runs": self.runs,
            "protected": self.protected,
            "skipped": self.skipped,
            "rows": self.rows,
            "cache_entries": self.cache_entries,
            "cache_kept": self.cache_kept,
            "blob_files": self.blob_files,
            "blob_bytes": self.blob_bytes,
            "bytes_freed": self.bytes_freed,
            "size_before": self.size_before,
            "size_after": self.size_after,
            "note": self.note,
            "transactions": self.transactions,
            "max_transaction": round(self.max_transaction, 4),
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True, kw_only=True)
class VacuumReport:
    """File sizes (database + write-ahead log) before and after a VACUUM."""

    size_before: int | None
    size_after: int | None
    seconds: float


# -- gc ---------------------------------------------------------------------------------


def gc(
    store: RunStore,
    policy: GcPolicy,
    *,
    dry_run: bool = False,
    now: float | None = None,
    budget: float = BUDGET,
    plan: GcPlan | None = None,
) -> GcReport:
    """Delete what `policy` selects, in short transactions, then reclaim the freed space.

    Args:
        store: a SqliteRunStore or MemoryRunStore.
        policy: which runs and cache entries go.
        dry_run: only report what would go (the same set `plan_gc` lists).
        now: the reference time for ages (default: now).
        budget: the longest a transaction may hold the write lock, in seconds.
        plan: a plan already made (and shown to the user) with `plan_gc`; made now if None.

    Raises:
        UserError: the store is not a local one.
        StoreError: the store could not be written.
    """
    started = time.monotonic()
    plan = plan_gc(store, policy, now=now) if plan is None else plan
    report = GcReport(dry_run=dry_run, protected=list(plan.protected), cache_kept=plan.cache_kept)
    if dry_run:
        report.runs = [c.name for c in plan.runs]
        report.rows = {
            "actions": sum(c.actions for c in plan.runs),
            "logs": sum(c.logs for c in plan.runs),
        }
        report.cache_entries = len(plan.cache_keys)
        if is_sqlite(store):
            report.size_before = report.size_after = sizes(store)[0]
        report.seconds = time.monotonic() - started
        return report
    names = [c.name for c in plan.runs]
    if is_sqlite(store):
        try:
            _gc_sqlite(store, names, plan, policy, report, budget, now)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"gc of run store {store.path} failed: {exc}") from exc
    else:
        _gc_memory(store, names, plan, policy, report, now)
    report.seconds = time.monotonic() - started
    return report


def _gc_memory(
    store: Any,
    names: list[str],
    plan: GcPlan,
    policy: GcPolicy,
    report: GcReport,
    now: float | None,
) -> None:
    rows = {"actions": 0, "attempts": 0, "logs": 0}
    with store._lock:
        protected = protected_runs(list(store._runs.values()))
        doomed = set()
        for name in names:
            row = store._runs.get(name)
            if row is None:
                continue
            if name in protected or is_alive(row):
                report.skipped.append(name)
                continue
            doomed.add(name)
            del store._runs[name]
            rows["actions"] += len(store._actions.pop(name, {}))
        if doomed:
            attempts = {k: v for k, v in store._attempts.items() if k[0] not in doomed}
            rows["attempts"] = len(store._attempts) - len(attempts)
            store._attempts = attempts
            logs = [r for r in store._logs if r["run"] not in doomed]
            rows["logs"] = len(store._logs) - len(logs)
            store._logs = logs
            reports = {k: v for k, v in store._reports.items() if k[0] not in doomed}
            rows["reports"] = len(store._reports) - len(reports)
            store._reports = reports
        report.runs = [n for n in names if n in doomed]
        if plan.cache_keys and policy.cache_older_than is not None:
            cutoff = (time.time() if now is None else now) - policy.cache_older_than
            used = {
                a["cache_key"]
                for actions in store._actions.values()
                for a in actions.values()
                if a["cache_key"] and a["outputs_blob"] is None
            }
            for key in plan.cache_keys:
                entry = store._cache.get(key)
                if entry is not None and entry["created_at"] < cutoff and key not in used:
                    del store._cache[key]
                    report.cache_entries += 1
        store._counter += 1
    report.rows = rows


class _Pacer:
    """gc's write transactions: each bounded by `budget`, each followed by a pause.

    The connection's automatic checkpoint is off while gc runs: it would run inside
    COMMIT (inflating the measured hold time) or, worse, in a concurrent writer's COMMIT,
    which would then copy gc's pages for it. gc checkpoints itself after each commit,
    while it holds no lock, so the log stays small.
    """

    def __init__(self, store: Any, report: GcReport, budget: float) -> None:
        self.store = store
        self.conn: sqlite3.Connection = store._conn()
        self.report = report
        self.budget = budget
        self.gap = max(budget, _MIN_GAP)
        self.chunk = 200  # rows per statement, adapted to the measured delete rate
        self.deadline = 0.0
        self.statements = 0
        self.last_held = 0.0
        self.commit_time = 0.0

    def __enter__(self) -> _Pacer:
        self.conn.execute("PRAGMA wal_autocheckpoint = 0")
        # A bigger page cache keeps the b-tree pages gc walks (and vacuum moves) in memory.
        self.cache_size = _pragma(self.conn, "cache_size")
        self.conn.execute("PRAGMA cache_size = -65536")
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.execute("PRAGMA wal_autocheckpoint = 1000")
        self.conn.execute(f"PRAGMA cache_size = {self.cache_size}")

    def expired(self) -> bool:
        # Every transaction does at least one statement, so gc always progresses.
        return self.statements > 0 and time.monotonic() >= self.deadline

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.store._write_lock:
            self.conn.execute("BEGIN IMMEDIATE")
            start = time.monotonic()
            # COMMIT writes the changed pages to the log: keep time for it in the budget.
            self.deadline = start + self.budget - min(self.commit_time, self.budget / 2)
            self.statements = 0
            try:
                yield self.conn
                self.conn.execute("UPDATE changes SET counter = counter + 1 WHERE id = 1")
                commit = time.monotonic()
                self.conn.execute("COMMIT")
                self.commit_time = time.monotonic() - commit
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            held = time.monotonic() - start
        self.pause(held)

    def script(self, sql: str) -> None:
        """One transaction as a script (the vacuum pragma must be stepped to its end)."""
        with self.store._write_lock:
            start = time.monotonic()
            try:
                self.conn.executescript(f"BEGIN IMMEDIATE; {sql}; COMMIT;")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            held = time.monotonic() - start
        self.pause(held)
        self.last_held = held

    def pause(self, held: float) -> None:
        """Checkpoint, then leave the lock free at least as long as gc held it."""
        self.report.transactions += 1
        self.report.max_transaction = max(self.report.max_transaction, held)
        start = time.monotonic()
        self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        # Let writers waiting on busy_timeout in: see the module docstring.
        time.sleep(max(0.0, max(self.gap, held) - (time.monotonic() - start)))

    def delete(self, sql: str, params: Sequence[Any]) -> int:
        """Run one chunked DELETE (`LIMIT ?` is its last parameter) and adapt the chunk."""
        t0 = time.monotonic()
        n = self.conn.execute(sql, (*params, self.chunk)).rowcount
        elapsed = time.monotonic() - t0
        self.statements += 1
        # Aim for statements of a quarter of the budget, growing by half at most at once.
        ideal = int(n * (self.budget / 4) / elapsed) if n and elapsed > 0 else self.chunk
        if n >= self.chunk:
            self.chunk = min(ideal, int(self.chunk * 1.5))
        elif elapsed > self.budget / 4:
            self.chunk = ideal
        self.chunk = max(20, min(self.chunk, 20_000))
        return n


def _run_tables(conn: sqlite3.Connection) -> list[tuple[str, str, bool]]:
    """(table, run column, has rowid) of every table whose rows belong to a run: a foreign
    key to runs, or to the run column of such a table (reports -> actions). This finds
    actions, attempts, logs and whatever later migrations add, with no list to update."""
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
    ]
    fks = {t: conn.execute(f'PRAGMA foreign_key_list("{t}")').fetchall() for t in tables}
    column: dict[str, str] = {"runs": "name"}
    referenced: dict[str, int] = {}
    changed = True
    while changed:  # a fixpoint: tables pointing at tables that point at runs
        changed = False
        for table, keys in fks.items():
            if table in column:
                continue
            for fk in keys:  # (id, seq, table, from, to, ...)
                if fk[2] in column and fk[4] in (column[fk[2]], None):
                    column[table] = fk[3]
                    referenced[fk[2]] = referenced.get(fk[2], 0) + 1
                    changed = True
                    break
    found: list[tuple[str, str, bool]] = []
    for table, col in column.items():
        if table == "runs":
            continue
        try:
            conn.execute(f'SELECT rowid FROM "{table}" LIMIT 0').fetchall()
            has_rowid = True
        except sqlite3.OperationalError:
            has_rowid = False
        found.append((table, col, has_rowid))
    # A table others point at goes after them (actions after reports, if they point at it).
    found.sort(key=lambda t: (referenced.get(t[0], 0), t[0]))
    return found


def _gc_sqlite(
    store: Any,
    names: list[str],
    plan: GcPlan,
    policy: GcPolicy,
    report: GcReport,
    budget: float,
    now: float | None,
) -> None:
    report.size_before, data_before = sizes(store)
    with _Pacer(store, report, budget) as pacer:
        conn = pacer.conn
        tables = _run_tables(conn)
        fields = run_fields(conn)
        leases = bool(
            conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'recovery_leases'"
            ).fetchall()
        )
        report.rows = {t: 0 for t, _, _ in tables}
        pending = deque(names)
        while pending:
            with pacer.transaction():
                protected = protected_runs(
                    conn.execute(
                        f"SELECT {fields} FROM runs WHERE phase IN (?, ?)", ACTIVE
                    ).fetchall(),
                    leased_sources(conn),
                )
                while pending and not pacer.expired():
                    name = pending[0]
                    # fetchall: a half-read cursor keeps a read transaction open, and that
                    # stops checkpoints from ever emptying the log.
                    rows = conn.execute(
                        f"SELECT {fields} FROM runs WHERE name = ?", (name,)
                    ).fetchall()
                    found = rows[0] if rows else None
                    if found is None:  # deleted meanwhile (another gc, `flyte delete`)
                        pending.popleft()
                        continue
                    if name in protected or is_alive(found):
                        report.skipped.append(name)
                        pending.popleft()
                        continue
                    if _delete_children(pacer, tables, name, report):
                        conn.execute("DELETE FROM runs WHERE name = ?", (name,))
                        if leases:  # a lease on a deleted run protects nothing
                            conn.execute("DELETE FROM recovery_leases WHERE source = ?", (name,))
                        report.runs.append(name)
                        pending.popleft()
        if plan.cache_keys and policy.cache_older_than is not None:
            cutoff = (time.time() if now is None else now) - policy.cache_older_than
            _delete_cache(pacer, deque(plan.cache_keys), cutoff, plan.made_at, report)
        swept = sweep_blobs(store)
        report.blob_files, report.blob_bytes = swept.files, swept.bytes
        report.note = swept.note
        _reclaim(pacer, report)
    report.size_after, data_after = sizes(store)
    report.bytes_freed = max(0, data_before - data_after)


def _delete_children(
    pacer: _Pacer, tables: list[tuple[str, str, bool]], run: str, report: GcReport
) -> bool:
    """Delete a run's rows table by table; False when the transaction's time ran out first."""
    for table, column, has_rowid in tables:
        if pacer.expired():
            return False
        if not has_rowid:
            n = pacer.conn.execute(f'DELETE FROM "{table}" WHERE "{column}" = ?', (run,)).rowcount
            pacer.statements += 1
            report.rows[table] += n
            continue
        sql = (
            f'DELETE FROM "{table}" WHERE rowid IN '
            f'(SELECT rowid FROM "{table}" WHERE "{column}" = ? LIMIT ?)'
        )
        while True:
            n = pacer.delete(sql, (run,))
            report.rows[table] += n
            if n == 0:
                break
            if pacer.expired():
                return False
    return True


def _delete_cache(
    pacer: _Pacer, keys: deque[str], cutoff: float, made_at: float, report: GcReport
) -> None:
    conn = pacer.conn
    while keys:
        with pacer.transaction():
            # The plan excluded entries read by kept runs; a run active since then may have
            # hit one: keep those too (only runs active or ended after the plan can have).
            used = {
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT cache_key FROM actions WHERE run IN (SELECT name FROM runs "
                    "WHERE phase IN (?, ?) OR coalesce(ended_at, created_at) >= ?) "
                    "AND cache_key IS NOT NULL AND outputs_blob IS NULL",
                    (*ACTIVE, made_at),
                )
            }
            while keys and not pacer.expired():
                batch = [keys.popleft() for _ in range(min(len(keys), pacer.chunk))]
                batch = [k for k in batch if k not in used]
                if not batch:
                    continue
                report.cache_entries += conn.execute(
                    "DELETE FROM cache WHERE key IN (SELECT value FROM json_each(?)) "
                    "AND created_at < ?",
                    (json.dumps(batch), cutoff),
                ).rowcount
                pacer.statements += 1


def _reclaim(pacer: _Pacer, report: GcReport) -> None:
    """Give free pages back to the OS in short steps, then checkpoint the log."""
    conn = pacer.conn
    if _pragma(conn, "auto_vacuum") != 2:
        if _pragma(conn, "freelist_count"):
            report.note = (report.note + "; " if report.note else "") + (
                "this store predates incremental vacuum, so the file keeps its size (new "
                "runs reuse the free space); `flyte db vacuum` shrinks it once and for all"
            )
    else:
        # The cost of moving a page varies tenfold with what points at it: size each step
        # from the last one's cost per page, growing by half at most.
        pages = 64
        while _pragma(conn, "freelist_count"):
            pacer.script(f"PRAGMA incremental_vacuum({pages})")
            per_page = max(pacer.last_held, 1e-6) / pages
            pages = int(max(8, min(pages * 1.5, (pacer.budget / 2) / per_page, 256)))
    # Not a TRUNCATE checkpoint: that holds new writers back while it syncs the file, which
    # can take a second on a busy disk. A PASSIVE one, then one small transaction that
    # restarts the log with a size limit set, trims the log file as well.
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    limit = _pragma(conn, "journal_size_limit")
    conn.execute("PRAGMA journal_size_limit = 0")
    try:
        with pacer.transaction():
            pass
    finally:
        conn.execute(f"PRAGMA journal_size_limit = {limit}")


def _pragma(conn: sqlite3.Connection, name: str) -> int:
    return int(conn.execute(f"PRAGMA {name}").fetchall()[0][0])


def sizes(store: Any) -> tuple[int, int]:
    """(file bytes: database + write-ahead log, data bytes: pages in use) of a SQLite store."""
    import os

    total = 0
    for suffix in ("", "-wal"):
        try:
            total += os.path.getsize(store.path + suffix)
        except OSError:
            pass
    conn = store._conn()
    page_size = _pragma(conn, "page_size")
    pages = _pragma(conn, "page_count")
    free = _pragma(conn, "freelist_count")
    return total, (pages - free) * page_size


# -- vacuum -----------------------------------------------------------------------------


def vacuum(store: RunStore, *, force: bool = False) -> VacuumReport:
    """Rewrite the store file compactly (and switch it to incremental vacuum for gc).

    VACUUM holds the write lock for its whole duration, so a run in progress would stall.

    Raises:
        UserError: a run is in progress (and not `force`), or the store is not local.
        StoreError: the store could not be rewritten (e.g. no room for the copy).
    """
    started = time.monotonic()
    if not is_sqlite(store):
        return VacuumReport(size_before=None, size_after=None, seconds=0.0)
    busy = active_runs(store)
    if busy and not force:
        raise UserError(
            f"run {busy[0]} is in progress and VACUUM blocks its writes until it ends; "
            "wait for it, or pass --force"
        )
    s: Any = store
    before, _ = sizes(s)
    conn = s._conn()
    with s._write_lock:
        try:
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"VACUUM of run store {s.path} failed: {exc}") from exc
    after, _ = sizes(s)
    return VacuumReport(size_before=before, size_after=after, seconds=time.monotonic() - started)
