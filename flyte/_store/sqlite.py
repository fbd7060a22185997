"""SqliteRunStore: the durable run store, shared safely by several processes.

One connection factory sets the pragmas. WAL lets readers (the TUI, `flyte logs -f`) run
while a driver writes; `BEGIN IMMEDIATE` takes the write lock up front so two writers
queue on `busy_timeout` instead of failing with "database is locked" on lock upgrade.
The hot path uses stdlib `sqlite3` directly; each thread gets its own connection.
"""

from __future__ import annotations

import json
import operator
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flyte._models import (
    ActionRecord,
    AttemptRecord,
    CacheEntry,
    DeployedTask,
    LogLine,
    Phase,
    ReportRecord,
    RunRecord,
)
from flyte._store import Op, driver_is_dead
from flyte._store._rows import (
    ACTION_COLUMNS,
    ACTION_DEFAULTS,
    RUN_COLUMNS,
    RUN_DEFAULTS,
    action_from_row,
    attempt_from_row,
    cache_from_row,
    deployed_from_row,
    log_from_row,
    run_from_row,
)
from flyte._store.migrations import check_foreign, migrate
from flyte.errors import StoreError

__all__ = ["SqliteRunStore", "connect"]

BUSY_TIMEOUT_MS = 60_000
_ACTIVE = (Phase.QUEUED.value, Phase.RUNNING.value)


def connect(path: str) -> sqlite3.Connection:
    """Open a connection with the store's pragmas (the one connection factory).

    Raises:
        StoreError: the file is not a SQLite database, or is corrupt.
    """
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        # Only takes effect on a new, empty file (or at the next VACUUM): lets `flyte gc`
        # give freed pages back to the OS in short steps (flyte._store.upkeep).
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"run store {path} is not a flyte run store or is corrupt ({exc}); "
            "move it aside or set FLYTE_HOME to another folder"
        ) from exc
    return conn


_SETTINGS_JSON: dict[int, tuple[Any, str]] = {}


def _settings_json(value: Any) -> str:
    """JSON of an action's settings; one task's actions share one dict, encoded once."""
    if isinstance(value, str):
        return value
    memo = _SETTINGS_JSON.get(id(value))
    if memo is not None and memo[0] is value:
        return memo[1]
    text = _to_json(value)
    if len(_SETTINGS_JSON) > 1024:
        _SETTINGS_JSON.clear()
    _SETTINGS_JSON[id(value)] = (value, text)
    return text


_INLINE_JSON = '{"worker": "inline"}'


def _placement_json(value: Any) -> str | None:
    """JSON of an attempt's placement; the inline one (most attempts) is a constant."""
    if value is None:
        return None
    if value == {"worker": "inline"}:
        return _INLINE_JSON
    return _to_json(value)


def _to_json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


class SqliteRunStore:
    """The durable run store in one SQLite file.

    Example:
        store = SqliteRunStore(tmp_path / "runs.db")
        flyte.init(store=store)
        run = flyte.run(main, name="World")
        assert store.get_run(run.name).phase is Phase.SUCCEEDED
    """

    def __init__(self, path: str | Path, *, tracer: Any = None) -> None:
        self.path = str(path)
        self.tracer = tracer
        self._local = threading.local()
        self._write_lock = threading.Lock()
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        check_foreign(self.path)
        conn = self._conn()
        try:
            migrate(conn, self.path)
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"run store {self.path} is not a flyte run store or is corrupt ({exc}); "
                "move it aside or set FLYTE_HOME to another folder"
            ) from exc

    # -- connections ---------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            if self.tracer is not None:
                conn.set_trace_callback(self.tracer)
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        try:
            return self._conn().execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"run store {self.path} could not be read: {exc}") from exc

    # -- writes --------------------------------------------------------------------

    def write(self, ops: Sequence[Op]) -> None:
        """Apply a batch of operations in one IMMEDIATE transaction."""
        if not ops:
            return
        conn = self._conn()
        with self._write_lock:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"run store {self.path} could not be written: {exc}") from exc
            try:
                self._apply(conn, ops)
                conn.execute("UPDATE changes SET counter = counter + 1 WHERE id = 1")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _apply(self, conn: sqlite3.Connection, ops: Sequence[Op]) -> None:
        # Rows of one kind go in one executemany. Action inserts are written before any
        # op that may depend on them (updates, aborts); attempts, logs and cache entries
        # depend on no action row, so they never break a batch of inserts apart.
        action_rows: list[tuple[Any, ...]] = []
        attempt_rows: list[tuple[Any, ...]] = []
        log_rows: list[tuple[Any, ...]] = []

        def flush_actions() -> None:
            if action_rows:
                conn.executemany(_INSERT_ACTION, action_rows)
                action_rows.clear()

        for op in ops:
            kind = op[0]
            if kind == "action_insert":
                full = {**ACTION_DEFAULTS, **op[1]}
                full["settings"] = _settings_json(full["settings"])
                action_rows.append(_ACTION_VALUES(full))
                continue
            if kind == "attempt_upsert":
                row = op[1]
                attempt_rows.append(
                    (
                        row["run"],
                        row["action"],
                        row["attempt"],
                        row["phase"],
                        row["started_at"],
                        row.get("ended_at"),
                        row.get("error_type"),
                        row.get("error_message"),
                        _placement_json(row.get("placement")),
                    )
                )
                continue
            if kind == "log":
                row = op[1]
                log_rows.append(
                    (
                        row["run"],
                        row["action"],
                        row["attempt"],
                        row["ts"],
                        row["stream"],
                        row["line"],
                    )
                )
                continue
            flush_actions()
            if kind == "action_update":
                _, run, action_id, fields = op
                sets = ", ".join(f"{k} = ?" for k in fields)
                conn.execute(
                    f"UPDATE actions SET {sets} WHERE run = ? AND id = ?",
                    (
                        *(_to_json(v) if k == "settings" else v for k, v in fields.items()),
                        run,
                        action_id,
                    ),
                )
            elif kind == "run_insert":
                full = {**RUN_DEFAULTS, **op[1]}
                conn.execute(
                    _INSERT_RUN,
                    tuple(
                        _to_json(full[c]) if c in ("settings", "labels") else full[c]
                        for c in RUN_COLUMNS
                    ),
                )
            elif kind == "abort_actions":
                _, run, ended = op
                conn.execute(
                    "UPDATE actions SET phase = ?, ended_at = coalesce(ended_at, ?) "
                    "WHERE run = ? AND phase IN (?, ?)",
                    (Phase.ABORTED.value, ended, run, *_ACTIVE),
                )
            elif kind == "run_update":
                _, name, fields = op
                sets = ", ".join(f"{k} = ?" for k in fields)
                conn.execute(f"UPDATE runs SET {sets} WHERE name = ?", (*fields.values(), name))
            elif kind == "cache_put":
                row = op[1]
                conn.execute(
                    "INSERT OR REPLACE INTO cache (key, task, parts, outputs_json, outputs_blob, "
                    "created_at, run, action) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        row["key"],
                        row["task"],
                        _to_json(row["parts"]),
                        row.get("outputs_json"),
                        row["outputs_blob"],
                        row["created_at"],
                        row.get("run"),
                        row.get("action"),
                    ),
                )
            elif kind == "report_put":
                row = op[1]
                conn.execute(
                    "INSERT OR REPLACE INTO reports (run, action, attempt, tabs, updated_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (row["run"], row["action"], row["attempt"], _to_json(row["tabs"]), row["ts"]),
                )
            elif kind == "deploy":
                row = op[1]
                conn.execute(
                    "INSERT OR REPLACE INTO deployed_tasks (name, version, env, interface, "
                    "settings, snapshot, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        row["name"],
                        row["version"],
                        row["env"],
                        _to_json(row["interface"]),
                        _to_json(row["settings"]),
                        row["snapshot"],
                        row["created_at"],
                    ),
                )
            else:
                raise ValueError(f"unknown store operation {kind!r}")
        flush_actions()
        if attempt_rows:
            conn.executemany(
                "INSERT OR REPLACE INTO attempts (run, action, attempt, phase, started_at, "
                "ended_at, error_type, error_message, placement) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                attempt_rows,
            )
        if log_rows:
            conn.executemany(
                "INSERT INTO logs (run, action, attempt, ts, stream, line) VALUES (?, ?, ?, ?, ?, ?)",
                log_rows,
            )

    # -- runs ----------------------------------------------------------------------

    def _reap(self, rows: list[sqlite3.Row]) -> bool:
        """Mark runs whose driver died as ABORTED (interrupted); True if any changed."""
        dead = [
            r["name"]
            for r in rows
            if r["phase"] in _ACTIVE and driver_is_dead(r["pid"], r["host"], r["heartbeat"])
        ]
        if not dead:
            return False
        # Conditional on the phase, in one transaction: a driver that committed its run's
        # end (and exited) after `rows` were read keeps that end; only runs still
        # QUEUED/RUNNING now become interrupted.
        now = time.time()
        reaped = 0
        conn = self._conn()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for name in dead:
                    changed = conn.execute(
                        "UPDATE runs SET phase = ?, interrupted = 1, ended_at = ?, "
                        "error_type = 'Interrupted', "
                        "error_message = 'the process driving this run died' "
                        "WHERE name = ? AND phase IN (?, ?)",
                        (Phase.ABORTED.value, now, name, *_ACTIVE),
                    ).rowcount
                    if not changed:
                        continue
                    reaped += changed
                    conn.execute(
                        "UPDATE actions SET phase = ?, ended_at = coalesce(ended_at, ?) "
                        "WHERE run = ? AND phase IN (?, ?)",
                        (Phase.ABORTED.value, now, name, *_ACTIVE),
                    )
                if reaped:
                    conn.execute("UPDATE changes SET counter = counter + 1 WHERE id = 1")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return True

    def _runs(self, where: str, params: Sequence[Any], tail: str = "") -> list[RunRecord]:
        sql = (
            "SELECT r.*, (SELECT count(*) FROM actions a WHERE a.run = r.name) AS n_actions, "
            "(SELECT count(*) FROM actions a WHERE a.run = r.name AND a.cache_status = 'hit') "
            f"AS n_hits FROM runs r {where} {tail}"
        )
        rows = self._query(sql, params)
        if self._reap(rows):
            rows = self._query(sql, params)
        return [run_from_row(r, r["n_actions"], r["n_hits"]) for r in rows]

    def get_run(self, name: str) -> RunRecord | None:
        found = self._runs("WHERE r.name = ?", (name,))
        return found[0] if found else None

    def list_runs(
        self,
        *,
        phase: str | None = None,
        task: str | None = None,
        limit: int | None = 50,
        since: float | None = None,
        search: str | None = None,
    ) -> list[RunRecord]:
        clauses: list[str] = []
        params: list[Any] = []
        if phase:
            clauses.append("r.phase = ?")
            params.append(str(phase).upper())
        if task:
            clauses.append("(r.task = ? OR r.task LIKE ?)")
            params += [task, f"%.{task}"]
        if since is not None:
            clauses.append("r.created_at >= ?")
            params.append(since)
        if search:
            clauses.append("(r.name LIKE ? OR r.task LIKE ?)")
            params += [f"%{search}%", f"%{search}%"]
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        tail = "ORDER BY r.created_at DESC" + (f" LIMIT {int(limit)}" if limit else "")
        return self._runs(where, params, tail)

    def count_runs(
        self,
        *,
        phase: str | None = None,
        task: str | None = None,
        since: float | None = None,
        search: str | None = None,
    ) -> int:
        """How many runs `list_runs` would return without a limit (one COUNT)."""
        clauses: list[str] = []
        params: list[Any] = []
        if phase:
            clauses.append("phase = ?")
            params.append(str(phase).upper())
        if task:
            clauses.append("(task = ? OR task LIKE ?)")
            params += [task, f"%.{task}"]
        if since is not None:
            clauses.append("created_at >= ?")
            params.append(since)
        if search:
            clauses.append("(name LIKE ? OR task LIKE ?)")
            params += [f"%{search}%", f"%{search}%"]
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        return int(self._query(f"SELECT count(*) FROM runs {where}", params)[0][0])

    def run_task_blob(self, run: str) -> bytes | None:
        rows = self._query("SELECT task_blob FROM runs WHERE name = ?", (run,))
        return rows[0][0] if rows else None

    def request_abort(self, run: str) -> bool:
        record = self.get_run(run)
        if record is None or record.phase.is_terminal:
            return False
        self.write([("run_update", run, {"abort_requested": 1})])
        return True

    def abort_requested(self, run: str) -> bool:
        rows = self._query("SELECT abort_requested FROM runs WHERE name = ?", (run,))
        return bool(rows and rows[0][0])

    def delete_run(self, run: str) -> bool:
        conn = self._conn()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for table in ("logs", "attempts", "reports", "actions"):
                    conn.execute(f"DELETE FROM {table} WHERE run = ?", (run,))
                deleted = conn.execute("DELETE FROM runs WHERE name = ?", (run,)).rowcount
                conn.execute("UPDATE changes SET counter = counter + 1 WHERE id = 1")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return deleted > 0

    # -- actions -------------------------------------------------------------------

    def list_actions(self, run: str) -> list[ActionRecord]:
        rows = self._query(
            f"SELECT {_ACTION_READ} FROM actions WHERE run = ? ORDER BY started_at, seq", (run,)
        )
        return [action_from_row(r) for r in rows]

    def get_action(self, run: str, action_id: str) -> ActionRecord | None:
        rows = self._query(
            f"SELECT {_ACTION_READ} FROM actions WHERE run = ? AND id = ?", (run, action_id)
        )
        return action_from_row(rows[0]) if rows else None

    def list_attempts(self, run: str, action_id: str | None = None) -> list[AttemptRecord]:
        if action_id is None:
            rows = self._query("SELECT * FROM attempts WHERE run = ? ORDER BY started_at", (run,))
        else:
            rows = self._query(
                "SELECT * FROM attempts WHERE run = ? AND action = ? ORDER BY attempt",
                (run, action_id),
            )
        return [attempt_from_row(r) for r in rows]

    def get_blob(self, run: str, action_id: str | None, which: str) -> bytes | None:
        column = {"inputs": "inputs_blob", "outputs": "outputs_blob"}[which]
        if action_id is None:
            rows = self._query(f"SELECT {column} FROM runs WHERE name = ?", (run,))
        elif which == "outputs":  # a cache hit keeps its outputs in the cache entry only
            rows = self._query(
                "SELECT coalesce(a.outputs_blob, c.outputs_blob) FROM actions a "
                "LEFT JOIN cache c ON c.key = a.cache_key WHERE a.run = ? AND a.id = ?",
                (run, action_id),
            )
        else:
            rows = self._query(
                f"SELECT {column} FROM actions WHERE run = ? AND id = ?", (run, action_id)
            )
        return rows[0][0] if rows else None

    def successful_actions(self, run: str) -> dict[str, tuple[str | None, bytes | None, str]]:
        rows = self._query(
            "SELECT a.id, a.inputs_hash, coalesce(a.outputs_blob, c.outputs_blob), a.kind "
            "FROM actions a LEFT JOIN cache c ON c.key = a.cache_key "
            "WHERE a.run = ? AND a.phase = ?",
            (run, Phase.SUCCEEDED.value),
        )
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    # -- logs ----------------------------------------------------------------------

    def logs(
        self,
        run: str,
        *,
        action_id: str | None = None,
        after: int = 0,
        attempt: int | None = None,
        limit: int | None = None,
    ) -> list[LogLine]:
        where = "run = ? AND seq > ?"
        params: list[Any] = [run, after]
        if action_id is not None:
            where += " AND action = ?"
            params.append(action_id)
        if attempt is not None:
            where += " AND attempt = ?"
            params.append(attempt)
        if limit is None:
            sql = f"SELECT * FROM logs WHERE {where} ORDER BY seq"
        else:  # the last `limit` lines, oldest first
            sql = (
                f"SELECT * FROM (SELECT * FROM logs WHERE {where} ORDER BY seq DESC "
                f"LIMIT {int(limit)}) ORDER BY seq"
            )
        return [log_from_row(r) for r in self._query(sql, params)]

    # -- reports -------------------------------------------------------------------

    def get_report(self, run: str, action_id: str) -> ReportRecord | None:
        rows = self._query(
            "SELECT attempt, tabs, updated_at FROM reports WHERE run = ? AND action = ?",
            (run, action_id),
        )
        if not rows:
            return None
        return ReportRecord(
            run=run,
            action=action_id,
            attempt=rows[0][0],
            tabs=json.loads(rows[0][1]),
            updated_at=rows[0][2],
        )

    def report_actions(self, run: str) -> list[str]:
        rows = self._query("SELECT action FROM reports WHERE run = ? ORDER BY updated_at", (run,))
        return [r[0] for r in rows]

    # -- cache ---------------------------------------------------------------------

    def cache_get(self, key: str) -> tuple[CacheEntry, bytes] | None:
        rows = self._query("SELECT * FROM cache WHERE key = ?", (key,))
        if not rows:
            return None
        return cache_from_row(rows[0]), rows[0]["outputs_blob"]

    def cache_lookup(self, key: str) -> tuple[str | None, bytes] | None:
        """The outputs (JSON, pickled) cached under `key`: the hot path of a hit."""
        rows = self._query("SELECT outputs_json, outputs_blob FROM cache WHERE key = ?", (key,))
        return (rows[0][0], rows[0][1]) if rows else None

    def cache_outputs(
        self, task: str, *, max_entries: int = 5000, max_bytes: int = 64 << 20
    ) -> dict[str, tuple[str | None, bytes]] | None:
        """Every cached output of `task` by key, or None when there are too many to load."""
        count, size = self._query(
            "SELECT count(*), coalesce(sum(length(outputs_blob)), 0) FROM cache WHERE task = ?",
            (task,),
        )[0]
        if count > max_entries or size > max_bytes:
            return None
        rows = self._query(
            "SELECT key, outputs_json, outputs_blob FROM cache WHERE task = ?", (task,)
        )
        return {r[0]: (r[1], r[2]) for r in rows}

    def cache_entries(self, task: str | None = None) -> list[CacheEntry]:
        if task is None:
            rows = self._query("SELECT * FROM cache ORDER BY created_at DESC")
        else:
            rows = self._query(
                "SELECT * FROM cache WHERE task = ? OR task LIKE ? ORDER BY created_at DESC",
                (task, f"%.{task}"),
            )
        return [cache_from_row(r) for r in rows]

    def cache_clear(self, task: str | None = None) -> int:
        conn = self._conn()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            if task is None:
                n = conn.execute("DELETE FROM cache").rowcount
            else:
                n = conn.execute(
                    "DELETE FROM cache WHERE task = ? OR task LIKE ?", (task, f"%.{task}")
                ).rowcount
            conn.execute("UPDATE changes SET counter = counter + 1 WHERE id = 1")
            conn.execute("COMMIT")
        return n

    # -- deployed tasks ------------------------------------------------------------

    def get_deployed(
        self, name: str, version: str | None = None
    ) -> tuple[DeployedTask, bytes] | None:
        if version is None:
            rows = self._query(
                "SELECT * FROM deployed_tasks WHERE name = ? ORDER BY created_at DESC LIMIT 1",
                (name,),
            )
        else:
            rows = self._query(
                "SELECT * FROM deployed_tasks WHERE name = ? AND version = ?", (name, version)
            )
        if not rows:
            return None
        return deployed_from_row(rows[0]), rows[0]["snapshot"]

    def list_deployed(self) -> list[DeployedTask]:
        rows = self._query("SELECT * FROM deployed_tasks ORDER BY name, created_at DESC")
        return [deployed_from_row(r) for r in rows]

    def change_counter(self) -> int:
        rows = self._query("SELECT counter FROM changes WHERE id = 1")
        return int(rows[0][0]) if rows else 0

    def __repr__(self) -> str:
        return f"SqliteRunStore({self.path!r})"


_INSERT_ACTION = (
    f"INSERT OR REPLACE INTO actions ({', '.join(ACTION_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in ACTION_COLUMNS)})"
)
_INSERT_RUN = (
    f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' for _ in RUN_COLUMNS)})"
)
_ACTION_VALUES = operator.itemgetter(*ACTION_COLUMNS)
# Blobs are read only on demand (get_blob), not with every listing.
_ACTION_READ = ", ".join(c for c in ACTION_COLUMNS if not c.endswith("_blob"))
