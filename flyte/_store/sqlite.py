"""SqliteRunStore: the durable run store, shared safely by several processes.

One connection factory sets the pragmas. WAL lets readers (the TUI, `flyte logs -f`) run
while a driver writes; `BEGIN IMMEDIATE` takes the write lock up front so two writers
queue on `busy_timeout` instead of failing with "database is locked" on lock upgrade.
The hot path uses stdlib `sqlite3` directly; each thread gets its own connection.
"""

from __future__ import annotations

import contextlib
import json
import logging
import operator
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
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
from flyte._store._liveness import HOST, process_start
from flyte._store._rows import (
    ACTION_COLUMNS,
    ACTION_DEFAULTS,
    INLINE_PLACEMENT,
    RUN_COLUMNS,
    RUN_DEFAULTS,
    action_from_row,
    attempt_from_row,
    cache_from_row,
    deployed_from_row,
    log_from_row,
    run_from_row,
)
from flyte._store.blobs import OFFLOAD_BYTES, offload, resolve
from flyte._store.migrations import check_current, check_foreign, migrate
from flyte.errors import RunActiveError, StoreError

__all__ = ["SqliteRunStore", "connect"]

BUSY_TIMEOUT_MS = 60_000
_ACTIVE = (Phase.QUEUED.value, Phase.RUNNING.value)
# The phases are written out, not bound: only then can SQLite use the partial index of
# active actions (migration 0010), whose WHERE clause this one must match.
_END_ACTIVE = (
    "UPDATE actions SET phase = ?, ended_at = coalesce(ended_at, ?) "
    "WHERE run = ? AND phase IN ('QUEUED', 'RUNNING')"
)
_TERMINAL = frozenset(p.value for p in Phase if p.is_terminal)
_RUN_BLOBS = ("inputs_blob", "outputs_blob", "task_blob")
_log = logging.getLogger("flyte.store")

# sqlite3 adapts every parameter that is not an exact int, float or str: without an
# adapter registered for None and bytes, each such value looks up `__adapt__` on
# PrepareProtocol, which raises and clears a formatted AttributeError (about 1,900
# instructions; an action row binds about ten). Identity adapters, C callables both,
# make it a dict look-up and a call: the store's writes take 11-14% fewer instructions.
# They change no value; an adapter registered before flyte's is kept.
sqlite3.adapters.setdefault((type(None), sqlite3.PrepareProtocol), {}.get)
sqlite3.adapters.setdefault((bytes, sqlite3.PrepareProtocol), bytes)


_INCREMENTAL = 2  # PRAGMA auto_vacuum's value for INCREMENTAL


def connect(path: str, *, read_only: bool = False) -> sqlite3.Connection:
    """Open a connection with the store's pragmas (the one connection factory).

    Raises:
        StoreError: the file is not a SQLite database, is corrupt, or cannot be opened.
    """
    try:
        if read_only:
            conn = _connect_read_only(path)
        else:
            conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not read_only:
            # Only takes effect on a new, empty file (or at the next VACUUM): lets `flyte gc`
            # give freed pages back to the OS in short steps (flyte._store.upkeep). Set only
            # when not already so: setting it takes the write lock even when it changes
            # nothing, and opening a store must not wait for another process's write.
            if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != _INCREMENTAL:
                conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError as exc:
        raise open_error(path, exc) from exc
    return conn


def _connect_read_only(path: str) -> sqlite3.Connection:
    from urllib.parse import quote

    uri = f"file:{quote(path)}"
    conn = sqlite3.connect(
        f"{uri}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None
    )
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        conn.close()
    # A WAL store on a read-only file system whose -shm file cannot be created: nobody can
    # write there either, so reading the file as immutable is exact.
    return sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)


_CORRUPT_MARKERS = ("not a database", "malformed", "encrypted", "corrupt")


def open_error(path: str, exc: BaseException) -> StoreError:
    """A one-line StoreError that says what is really wrong with opening `path`."""
    text = str(exc)
    if any(marker in text for marker in _CORRUPT_MARKERS):
        return StoreError(
            f"run store {path} is not a flyte run store or is corrupt ({text}); "
            "move it aside or set FLYTE_HOME to another folder"
        )
    if "locked" in text or "busy" in text:
        # Opening sets pragmas that wait for a write lock another process holds: nothing
        # is wrong with the file or its permissions.
        return StoreError(
            f"run store {path} could not be opened ({text}): another process held the "
            "store's write lock too long"
        )
    return StoreError(
        f"run store {path} cannot be opened ({text}): check that its folder, the file and "
        "its -wal and -shm files are readable and writable by you, and the disk has space"
    )


def read_only_reason(path: Path) -> str | None:
    """Why the store at `path` cannot be written here, or None when it can."""
    folder = path.parent
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        if os.statvfs(probe).f_flag & os.ST_RDONLY:
            return "its file system is read-only"
    except (OSError, AttributeError):
        pass
    if path.exists() and not os.access(path, os.W_OK):
        return f"{path.name} is not writable by you"
    if folder.exists() and not os.access(folder, os.W_OK | os.X_OK):
        return f"its folder {folder} is not writable by you"
    return None


def write_error(path: str, exc: BaseException) -> StoreError:
    """A one-line StoreError naming the real cause of a failed write."""
    text = str(exc)
    if "full" in text or "No space" in text:
        hint = "free some disk space (recording resumes once there is room)"
    elif "disk I/O" in text:
        hint = (
            "the disk is full, over a file-size limit, or failing (recording resumes once it can)"
        )
    elif "readonly" in text or "read-only" in text:
        hint = "the store became read-only; set FLYTE_HOME to a writable folder"
    elif "locked" in text or "busy" in text:
        hint = "another process held the store's write lock too long"
    else:
        hint = "see the cause above"
    return StoreError(f"run store {path} could not be written ({text}): {hint}")


def _prepare_file(path: Path) -> str | None:
    """Create the store's folder (0700) and file (0600) if needed; say if it is read-only.

    Raises:
        StoreError: the folder is a file, or cannot be created.
    """
    folder = path.parent
    if folder.exists() and not folder.is_dir():
        raise StoreError(
            f"{folder} is a file, not a folder: point FLYTE_HOME (or --store) at a folder"
        )
    if path.is_dir():
        raise StoreError(f"run store {path} is a folder, not a file: point --store at a file")
    reason = read_only_reason(path)
    if reason is not None:
        if not path.exists():
            raise StoreError(
                f"there is no run store at {path} and none can be created ({reason}); "
                "set FLYTE_HOME to a writable folder"
            )
        return reason
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Created private: runs record inputs, outputs and logs (SQLite gives the -wal and
        # -shm files the same mode).
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    except NotADirectoryError as exc:
        # mkdir names the folder it could not make; the file in the way is an ancestor.
        where = Path(exc.filename or folder)
        blocker = next((p for p in (where, *where.parents) if p.is_file()), where)
        raise StoreError(
            f"{blocker} is a file, not a folder: point FLYTE_HOME (or --store) at a folder"
        ) from exc
    except OSError as exc:
        raise StoreError(f"cannot create the run store {path}: {exc.strerror or exc}") from exc
    return None


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


def _placement_json(value: Any) -> str | None:
    """JSON of an attempt's placement; the inline one (most attempts) is a constant."""
    if value is None:
        return None
    if value == {"worker": "inline"}:
        return INLINE_PLACEMENT
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
        self.read_only: str | None = None
        self._noted = False
        self._blobs = Path(self.path).parent / "blobs"
        """Why this store cannot be written here (opened read-only), or None."""
        if self.path != ":memory:":
            self.read_only = _prepare_file(Path(self.path))
        check_foreign(self.path)
        conn = self._conn()
        try:
            if self.read_only:
                check_current(conn, self.path, self.read_only)
            else:
                migrate(conn, self.path)
        except sqlite3.DatabaseError as exc:
            raise open_error(self.path, exc) from exc

    # -- connections ---------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, read_only=self.read_only is not None)
            if self.tracer is not None:
                conn.set_trace_callback(self.tracer)
            self._local.conn = conn
        return conn

    def set_cache_size(self, kib: int) -> None:
        """Let this thread's connection cache up to `kib` KiB of pages (SQLite: 2 MiB)."""
        self._conn().execute(f"PRAGMA cache_size = -{int(kib)}")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _note_read_only(self) -> None:
        # Said once, on the first read: a write says it in its own error instead.
        self._noted = True
        _log.warning(
            "flyte: note: run store %s is read-only (%s); showing it as it is, "
            "nothing will be recorded",
            self.path,
            self.read_only,
        )

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        if self.read_only is not None and not self._noted:
            self._note_read_only()
        try:
            return self._conn().execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"run store {self.path} could not be read: {exc}") from exc

    # -- writes --------------------------------------------------------------------

    def require_writable(self) -> None:
        """Raise unless this store can be written here.

        Raises:
            StoreError: the store was opened read-only (the message says why).
        """
        if self.read_only is not None:
            self._noted = True
            raise StoreError(
                f"run store {self.path} is read-only ({self.read_only}): nothing can be "
                "recorded; set FLYTE_HOME to a writable folder"
            )

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction that bumps the change counter; rolled back on error.

        The real cause always surfaces: a failed statement can have ended the transaction
        already (SQLite rolls back by itself on a full disk), so the ROLLBACK is
        conditional and can never hide the error with "no transaction is active".
        """
        self.require_writable()
        conn = self._conn()
        with self._write_lock:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as exc:
                raise write_error(self.path, exc) from exc
            try:
                yield conn
                conn.execute("UPDATE changes SET counter = counter + 1 WHERE id = 1")
                conn.execute("COMMIT")
            except BaseException as exc:
                self._local.refs = None  # references made in this transaction are gone
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.DatabaseError):
                        conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.DatabaseError | OSError):
                    raise write_error(self.path, exc) from exc
                raise

    def _settings_ref(self, conn: sqlite3.Connection, value: Any) -> str:
        """The "#<id>" of an action's settings in `shared_settings`, added if new.

        A connection keeps the references it made: a task's actions share one row.
        """
        text = _settings_json(value)
        refs: dict[str, str] | None = getattr(self._local, "refs", None)
        if refs is None:
            refs = self._local.refs = {}
        ref = refs.get(text)
        if ref is None:
            conn.execute("INSERT OR IGNORE INTO shared_settings (json) VALUES (?)", (text,))
            found = conn.execute("SELECT id FROM shared_settings WHERE json = ?", (text,))
            ref = refs[text] = f"#{found.fetchone()[0]}"
        return ref

    def _big(self, row: dict[str, Any], *columns: str) -> dict[str, Any]:
        """`row` with any value over OFFLOAD_BYTES in `columns` moved to a blob file."""
        for column in columns:
            value = row.get(column)
            if type(value) is bytes and len(value) > OFFLOAD_BYTES:
                row = {**row, column: offload(self._blobs, value)}
        return row

    def _resolve(self, value: bytes | None) -> bytes | None:
        return resolve(self._blobs, value)

    def write(self, ops: Sequence[Op]) -> None:
        """Apply a batch of operations in one IMMEDIATE transaction.

        Raises:
            StoreError: the batch could not be written (the message says why).
        """
        if not ops:
            return
        with self._transaction() as conn:
            self._apply(conn, ops)

    def _apply(self, conn: sqlite3.Connection, ops: Sequence[Op]) -> None:
        # Rows of one kind go in one executemany. Action inserts are written before any
        # op that may depend on them (updates, aborts); attempts, logs and cache entries
        # depend on no action row, so they never break a batch of inserts apart.
        action_rows: list[tuple[Any, ...]] = []
        attempt_rows: list[tuple[Any, ...]] = []
        log_rows: list[tuple[Any, ...]] = []

        # Consecutive updates of the same columns (an action's end, as the engine records
        # it) go in one executemany; any other op first applies them, so the batch's order
        # holds for every row.
        update_rows: list[tuple[Any, ...]] = []
        update_sql = [""]

        def flush_actions() -> None:
            if action_rows:
                _insert_actions(conn, action_rows)
                action_rows.clear()

        def flush_updates() -> None:
            if update_rows:
                conn.executemany(update_sql[0], update_rows)
                update_rows.clear()

        for op in ops:
            kind = op[0]
            if kind == "action_insert":
                if update_rows:
                    flush_updates()
                full = self._big({**ACTION_DEFAULTS, **op[1]}, "inputs_blob", "outputs_blob")
                full["settings"] = self._settings_ref(conn, full["settings"])
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
                fields = self._big(fields, "inputs_blob", "outputs_blob")
                sql = _update_action_sql(tuple(fields))
                if sql != update_sql[0]:
                    flush_updates()
                    update_sql[0] = sql
                update_rows.append(
                    (
                        *(_to_json(v) if k == "settings" else v for k, v in fields.items()),
                        run,
                        action_id,
                    )
                )
                continue
            flush_updates()
            if kind == "run_insert":
                full = self._big({**RUN_DEFAULTS, **op[1]}, *_RUN_BLOBS)
                conn.execute(
                    _INSERT_RUN,
                    tuple(
                        _to_json(full[c]) if c in ("settings", "labels") else full[c]
                        for c in RUN_COLUMNS
                    ),
                )
            elif kind == "abort_actions":
                _, run, ended = op
                conn.execute(_END_ACTIVE, (Phase.ABORTED.value, ended, run))
            elif kind == "run_update":
                _, name, fields = op
                fields = self._big(fields, *_RUN_BLOBS)
                sets = ", ".join(f"{k} = ?" for k in fields)
                conn.execute(f"UPDATE runs SET {sets} WHERE name = ?", (*fields.values(), name))
                if fields.get("phase") in _TERMINAL:
                    # A terminal run has no running action, in the same transaction: the
                    # engine may have failed to record some (a RecursionError unwinding).
                    conn.execute(_END_ACTIVE, (Phase.ABORTED.value, fields.get("ended_at"), name))
            elif kind == "cache_put":
                row = self._big(op[1], "outputs_blob")
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
                row = self._big(op[1], "snapshot")
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
        flush_updates()
        if attempt_rows:
            _insert_rows(conn, _INSERT_ATTEMPTS, attempt_rows)
        if log_rows:
            _insert_rows(conn, _INSERT_LOGS, log_rows)

    # -- runs ----------------------------------------------------------------------

    def _interrupted(self, rows: list[sqlite3.Row]) -> dict[str, dict[str, Any]]:
        """Runs among `rows` whose driver died: name -> the fields that say so."""
        dead: dict[str, dict[str, Any]] = {}
        now = time.time()
        for r in rows:
            if r["phase"] in _ACTIVE and driver_is_dead(
                r["pid"], r["host"], r["heartbeat"], r["pid_start"]
            ):
                dead[r["name"]] = {
                    "phase": Phase.ABORTED.value,
                    "interrupted": 1,
                    "ended_at": now,
                    "error_type": "Interrupted",
                    "error_message": "the process driving this run died",
                }
        return dead

    def _reap(self, rows: list[sqlite3.Row], dead: dict[str, dict[str, Any]] | None = None) -> bool:
        """Record, best effort, that runs whose driver died are ABORTED (one transaction).

        Readers never need this write: they show the verdict either way. It is skipped on a
        read-only store and given up (not waited for) when the store is busy or full. Only
        runs still QUEUED/RUNNING with the pid that was read change: a driver that
        committed its end meanwhile keeps it. True if any run was judged dead.
        """
        if dead is None:
            dead = self._interrupted(rows)
        if not dead or self.read_only is not None:
            return bool(dead)
        pids = {r["name"]: r["pid"] for r in rows}
        conn = self._conn()
        try:
            conn.execute("PRAGMA busy_timeout = 250")
            with self._transaction() as conn:
                for name, fields in dead.items():
                    sets = ", ".join(f"{k} = ?" for k in fields)
                    changed = conn.execute(
                        f"UPDATE runs SET {sets} WHERE name = ? AND phase IN (?, ?) AND pid IS ?",
                        (*fields.values(), name, *_ACTIVE, pids.get(name)),
                    ).rowcount
                    if changed:
                        conn.execute(_END_ACTIVE, (Phase.ABORTED.value, fields["ended_at"], name))
        except StoreError as exc:
            _log.debug("flyte: could not record interrupted runs: %s", exc)
        finally:
            with contextlib.suppress(sqlite3.DatabaseError):
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return True

    def _runs(self, where: str, params: Sequence[Any], tail: str = "") -> list[RunRecord]:
        # The counts are kept on the run row (migration 0006): no scan of the actions.
        sql = (
            "SELECT r.*, r.action_count AS n_actions, r.cache_hits AS n_hits "
            f"FROM runs r {where} {tail}"
        )
        rows = self._query(sql, params)
        dead = self._interrupted(rows)
        if dead:
            self._reap(rows, dead)
        records = []
        for r in rows:
            fields = dead.get(r["name"])
            row: Any = r if fields is None else {**dict(r), **fields}
            records.append(run_from_row(row, r["n_actions"], r["n_hits"]))
        return records

    def _run_is_dead(self, run: str) -> bool:
        rows = self._query(
            "SELECT phase, pid, host, heartbeat, pid_start FROM runs WHERE name = ?", (run,)
        )
        if not rows:
            return False
        r = rows[0]
        if r["phase"] not in _ACTIVE:
            return True  # a terminal run: an action still "running" under it is stale
        return driver_is_dead(r["pid"], r["host"], r["heartbeat"], r["pid_start"])

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
        wanted = str(phase).upper() if phase else None
        if wanted == Phase.ABORTED.value:  # a run whose driver died reads as ABORTED
            clauses.append("r.phase IN (?, ?, ?)")
            params += [wanted, *_ACTIVE]
        elif wanted:
            clauses.append("r.phase = ?")
            params.append(wanted)
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
        records = self._runs(where, params, tail)
        if wanted:
            records = [rec for rec in records if rec.phase.value == wanted]
        return records

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
        return self._resolve(rows[0][0]) if rows else None

    def request_abort(self, run: str) -> bool:
        record = self.get_run(run)
        if record is None or record.phase.is_terminal:
            return False
        self.write([("run_update", run, {"abort_requested": 1})])
        return True

    def claim_recovery(self, source: str, run: str) -> None:
        """Take the lease that lets `run` recover `source`: one recovery at a time.

        Raises:
            RunActiveError: `source` is still driven by a live process, or another live
                recovery holds the lease.
        """
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT phase, pid, host, heartbeat, pid_start FROM runs WHERE name = ?",
                (source,),
            ).fetchone()
            if row is not None and row["phase"] in _ACTIVE and not self._dead(row):
                raise RunActiveError(
                    f"run {source} is still {row['phase']} (driven by pid {row['pid']} on "
                    f"{row['host']}); wait for it or abort it (flyte abort {source}) first"
                )
            lease = conn.execute(
                "SELECT l.run, l.pid, l.host, l.pid_start, r.phase, r.pid AS rpid, r.host "
                "AS rhost, r.heartbeat, r.pid_start AS rstart FROM recovery_leases l "
                "LEFT JOIN runs r ON r.name = l.run WHERE l.source = ?",
                (source,),
            ).fetchone()
            if lease is not None and lease["run"] != run and self._lease_alive(lease):
                holder = lease["run"]
                raise RunActiveError(
                    f"run {source} is already being recovered by run {holder}; follow it "
                    f"with `flyte logs {holder} --follow` (or abort it: flyte abort {holder})"
                )
            conn.execute(
                "INSERT OR REPLACE INTO recovery_leases (source, run, pid, host, pid_start, "
                "taken_at) VALUES (?, ?, ?, ?, ?, ?)",
                (source, run, os.getpid(), HOST, process_start(os.getpid()), time.time()),
            )

    @staticmethod
    def _dead(row: Any) -> bool:
        return driver_is_dead(row["pid"], row["host"], row["heartbeat"], row["pid_start"])

    @staticmethod
    def _lease_alive(lease: Any) -> bool:
        if lease["phase"] is not None:  # the recovering run was recorded: judge it
            return bool(
                lease["phase"] in _ACTIVE
                and not driver_is_dead(
                    lease["rpid"], lease["rhost"], lease["heartbeat"], lease["rstart"]
                )
            )
        # Taken, run not recorded yet: the process that took it must still be there.
        return not driver_is_dead(lease["pid"], lease["host"], time.time(), lease["pid_start"])

    def abort_requested(self, run: str) -> bool:
        rows = self._query("SELECT abort_requested FROM runs WHERE name = ?", (run,))
        return bool(rows and rows[0][0])

    def delete_run(self, run: str) -> bool:
        """Delete a run with its actions, attempts and logs.

        Raises:
            RunActiveError: a live process still drives the run.
        """
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT phase, pid, host, heartbeat, pid_start FROM runs WHERE name = ?", (run,)
            ).fetchone()
            if row is not None and row["phase"] in _ACTIVE and not self._dead(row):
                raise RunActiveError(
                    f"run {run} is still {row['phase']} (driven by pid {row['pid']}); "
                    f"abort it first (flyte abort {run})"
                )
            for table in ("logs", "attempts", "reports", "actions"):
                conn.execute(f"DELETE FROM {table} WHERE run = ?", (run,))
            deleted = conn.execute("DELETE FROM runs WHERE name = ?", (run,)).rowcount
        return deleted > 0

    # -- actions -------------------------------------------------------------------

    def list_actions(self, run: str) -> list[ActionRecord]:
        rows = self._query(
            f"SELECT {_ACTION_READ} FROM actions WHERE run = ? ORDER BY started_at, seq", (run,)
        )
        return self._actions_of(run, rows)

    def get_action(self, run: str, action_id: str) -> ActionRecord | None:
        rows = self._query(
            f"SELECT {_ACTION_READ} FROM actions WHERE run = ? AND id = ?", (run, action_id)
        )
        return self._actions_of(run, rows)[0] if rows else None

    def iter_actions(self, run: str, *, page: int = 2000) -> Iterator[list[ActionRecord]]:
        """A run's actions in `list_actions` order, `page` at a time (bounded memory)."""
        yield from (
            self._actions_of(run, rows)
            for rows in self._pages(
                f"SELECT {_ACTION_READ} FROM actions WHERE run = ? ORDER BY started_at, seq",
                (run,),
                page,
            )
        )

    def iter_logs(
        self,
        run: str,
        *,
        action_id: str | None = None,
        after: int = 0,
        attempt: int | None = None,
        page: int = 2000,
    ) -> Iterator[list[LogLine]]:
        """The lines `logs` returns, oldest first, `page` at a time (bounded memory)."""
        where = "run = ? AND seq > ?"
        params: list[Any] = [run, after]
        if action_id is not None:
            where += " AND action = ?"
            params.append(action_id)
        if attempt is not None:
            where += " AND attempt = ?"
            params.append(attempt)
        sql = f"SELECT * FROM logs WHERE {where} ORDER BY seq"
        yield from ([log_from_row(r) for r in rows] for rows in self._pages(sql, params, page))

    def _pages(self, sql: str, params: Sequence[Any], page: int) -> Iterator[list[sqlite3.Row]]:
        # One statement, read in pages: SQLite streams the rows, so memory stays bounded.
        # Its own connection, so a caller may query the store between two pages.
        conn = connect(self.path, read_only=self.read_only is not None)
        try:
            cursor = conn.execute(sql, params)
            while rows := cursor.fetchmany(page):
                yield rows
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"run store {self.path} could not be read: {exc}") from exc
        finally:
            conn.close()

    def _actions_of(self, run: str, rows: list[sqlite3.Row]) -> list[ActionRecord]:
        # Actions still "running" under a run whose driver died (a verdict a read-only
        # store cannot record) read as ABORTED, like their run.
        if any(r["phase"] in _ACTIVE for r in rows) and self._run_is_dead(run):
            return [
                action_from_row(
                    {**dict(r), "phase": Phase.ABORTED.value} if r["phase"] in _ACTIVE else r
                )
                for r in rows
            ]
        return [action_from_row(r) for r in rows]

    def list_attempts(self, run: str, action_id: str | None = None) -> list[AttemptRecord]:
        # The view adds the attempts that action rows imply (see _rows.implied_attempt).
        if action_id is None:
            rows = self._query(
                "SELECT * FROM attempts_v1 WHERE run = ? ORDER BY started_at, action, attempt",
                (run,),
            )
        else:
            rows = self._query(
                "SELECT * FROM attempts_v1 WHERE run = ? AND action = ? ORDER BY attempt",
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
        return self._resolve(rows[0][0]) if rows else None

    def successful_actions(self, run: str) -> dict[str, tuple[str | None, bytes | None, str]]:
        rows = self._query(
            "SELECT a.id, a.inputs_hash, coalesce(a.outputs_blob, c.outputs_blob), a.kind "
            "FROM actions a LEFT JOIN cache c ON c.key = a.cache_key "
            "WHERE a.run = ? AND a.phase = ?",
            (run, Phase.SUCCEEDED.value),
        )
        return {r[0]: (r[1], self._resolve(r[2]), r[3]) for r in rows}

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
        blob = self._resolve(rows[0]["outputs_blob"])
        return None if blob is None else (cache_from_row(rows[0]), blob)

    def cache_lookup(self, key: str) -> tuple[str | None, bytes] | None:
        """The outputs (JSON, pickled) cached under `key`: the hot path of a hit."""
        rows = self._query("SELECT outputs_json, outputs_blob FROM cache WHERE key = ?", (key,))
        blob = self._resolve(rows[0][1]) if rows else None
        return None if blob is None else (rows[0][0], blob)

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
        found = {r[0]: (r[1], self._resolve(r[2])) for r in rows}
        return {k: (j, b) for k, (j, b) in found.items() if b is not None}

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
        with self._transaction() as conn:
            if task is None:
                n: int = conn.execute("DELETE FROM cache").rowcount
            else:
                n = conn.execute(
                    "DELETE FROM cache WHERE task = ? OR task LIKE ?", (task, f"%.{task}")
                ).rowcount
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
        snapshot = self._resolve(rows[0]["snapshot"])
        if snapshot is None:
            return None
        return deployed_from_row(rows[0]), snapshot

    def list_deployed(self) -> list[DeployedTask]:
        rows = self._query("SELECT * FROM deployed_tasks ORDER BY name, created_at DESC")
        return [deployed_from_row(r) for r in rows]

    def change_counter(self) -> int:
        rows = self._query("SELECT counter FROM changes WHERE id = 1")
        return int(rows[0][0]) if rows else 0

    def __repr__(self) -> str:
        return f"SqliteRunStore({self.path!r})"


# An upsert, not INSERT OR REPLACE: a row recorded again stays one row for the count
# triggers (migration 0006).


class _MultiRowInsert:
    """One INSERT statement of `rows` rows each, for the sizes `_insert_rows` uses.

    A statement per row (executemany) takes the GIL back from the engine's thread after
    every row, and while the engine is busy each take waits for a switch interval: the
    writer then crawls. A statement of many rows runs in SQLite with the GIL released.
    """

    def __init__(self, head: str, width: int, tail: str = "") -> None:
        row = "(" + ", ".join("?" * width) + ")"
        self.sql = {n: f"{head} VALUES {', '.join([row] * n)}{tail}" for n in _CHUNKS}


_UPDATE_SQL: dict[tuple[str, ...], str] = {}


def _update_action_sql(columns: tuple[str, ...]) -> str:
    """The UPDATE of an action row's `columns` (a few shapes recur: made once each)."""
    sql = _UPDATE_SQL.get(columns)
    if sql is None:
        if len(_UPDATE_SQL) > 256:
            _UPDATE_SQL.clear()
        sets = ", ".join(f"{c} = ?" for c in columns)
        sql = _UPDATE_SQL[columns] = f"UPDATE actions SET {sets} WHERE run = ? AND id = ?"
    return sql


# Few distinct sizes, so each statement is prepared once and then cached by sqlite3.
_CHUNKS = (256, 32, 4, 1)


def _insert_rows(
    conn: sqlite3.Connection, insert: _MultiRowInsert, rows: list[tuple[Any, ...]]
) -> None:
    """Insert `rows` in as few statements as the chunk sizes allow, in order."""
    start, total = 0, len(rows)
    for size in _CHUNKS:
        sql = insert.sql[size]
        while total - start >= size:
            chunk = rows[start : start + size]
            conn.execute(sql, [value for row in chunk for value in row])
            start += size


# NOT INDEXED: to group by run, SQLite would otherwise walk the whole (run, id) key index
# and test every rowid (each write of a store of 1M actions read them all); the rowid
# range holds only this batch's new rows.
_NEW_ACTION_COUNTS = (
    "SELECT run, count(*), total(cache_status = 'hit') FROM actions NOT INDEXED "
    "WHERE rowid > ? GROUP BY run"
)


def _insert_actions(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Upsert action rows; add the rows that are new to their runs' counts.

    New rows are the ones past the table's last rowid before the insert (an upsert that
    finds its row keeps that row's rowid; only this transaction writes). Counted before
    any later update of the batch, which the update trigger counts (migration 0007).
    """
    last = conn.execute("SELECT max(rowid) FROM actions").fetchone()[0] or 0
    _insert_rows(conn, _INSERT_ACTIONS, rows)
    added = conn.execute(_NEW_ACTION_COUNTS, (last,)).fetchall()
    for run, count, hits in added:
        conn.execute(
            "UPDATE runs SET action_count = action_count + ?, cache_hits = cache_hits + ? "
            "WHERE name = ?",
            (count, int(hits), run),
        )


_INSERT_ACTIONS = _MultiRowInsert(
    f"INSERT INTO actions ({', '.join(ACTION_COLUMNS)})",
    len(ACTION_COLUMNS),
    " ON CONFLICT(run, id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in ACTION_COLUMNS if c not in ("run", "id")),
)
_INSERT_ATTEMPTS = _MultiRowInsert(
    "INSERT OR REPLACE INTO attempts (run, action, attempt, phase, started_at, ended_at, "
    "error_type, error_message, placement)",
    9,
)
_INSERT_LOGS = _MultiRowInsert("INSERT INTO logs (run, action, attempt, ts, stream, line)", 6)
_INSERT_RUN = (
    f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' for _ in RUN_COLUMNS)})"
)
_ACTION_VALUES = operator.itemgetter(*ACTION_COLUMNS)
# Blobs are read only on demand (get_blob), not with every listing.


def action_read_columns(table: str = "actions") -> str:
    """The columns a reader selects from `table` (the actions table or its alias): all
    but the blobs, with a shared settings reference ("#<id>") resolved to its JSON."""
    return ", ".join(
        f"CASE WHEN {table}.settings GLOB '#*' THEN (SELECT s.json FROM shared_settings s "
        f"WHERE s.id = CAST(substr({table}.settings, 2) AS INTEGER)) "
        f"ELSE {table}.settings END AS settings"
        if c == "settings"
        else f"{table}.{c}"
        for c in ACTION_COLUMNS
        if not c.endswith("_blob")
    )


_ACTION_READ = action_read_columns()
