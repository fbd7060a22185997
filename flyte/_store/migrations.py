"""Named, recorded schema migrations for the SQLite run store.

Each migration runs once, inside a transaction, and is recorded in `_migrations`. A store
that has a migration this code does not know was written by a newer flyte-local: it is
refused, never modified.
"""

from __future__ import annotations

import os
import sqlite3
import time

from flyte.errors import StoreError

__all__ = [
    "MIGRATIONS",
    "PUBLIC_VIEWS",
    "READ_OPTIONAL",
    "check_current",
    "check_foreign",
    "migrate",
]

_V1 = """
CREATE TABLE runs (
    name TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    phase TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    ended_at REAL,
    inputs_json TEXT NOT NULL DEFAULT '{}',
    inputs_blob BLOB,
    outputs_json TEXT,
    outputs_blob BLOB,
    error_type TEXT,
    error_message TEXT,
    traceback TEXT,
    pid INTEGER,
    host TEXT,
    heartbeat REAL,
    recovered_from TEXT,
    interrupted INTEGER NOT NULL DEFAULT 0,
    abort_requested INTEGER NOT NULL DEFAULT 0,
    settings TEXT NOT NULL DEFAULT '{}',
    labels TEXT NOT NULL DEFAULT '{}',
    task_blob BLOB
);
CREATE INDEX runs_created ON runs(created_at);
CREATE TABLE actions (
    run TEXT NOT NULL REFERENCES runs(name) ON DELETE CASCADE,
    id TEXT NOT NULL,
    parent TEXT,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    phase TEXT NOT NULL,
    grp TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    cache_status TEXT NOT NULL DEFAULT 'disabled',
    cache_key TEXT,
    recovered INTEGER NOT NULL DEFAULT 0,
    inputs_hash TEXT,
    inputs_json TEXT NOT NULL DEFAULT '{}',
    inputs_blob BLOB,
    outputs_json TEXT,
    outputs_blob BLOB,
    error_type TEXT,
    error_message TEXT,
    traceback TEXT,
    started_at REAL,
    ended_at REAL,
    settings TEXT NOT NULL DEFAULT '{}',
    seq INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run, id)
);
CREATE TABLE attempts (
    run TEXT NOT NULL REFERENCES runs(name) ON DELETE CASCADE,
    action TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    phase TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    error_type TEXT,
    error_message TEXT,
    PRIMARY KEY (run, action, attempt)
);
CREATE TABLE logs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run TEXT NOT NULL REFERENCES runs(name) ON DELETE CASCADE,
    action TEXT,
    attempt INTEGER NOT NULL DEFAULT 1,
    ts REAL NOT NULL,
    stream TEXT NOT NULL,
    line TEXT NOT NULL
);
CREATE INDEX logs_run ON logs(run, seq);
CREATE TABLE cache (
    key TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    parts TEXT NOT NULL,
    outputs_json TEXT,
    outputs_blob BLOB NOT NULL,
    created_at REAL NOT NULL,
    run TEXT,
    action TEXT
);
CREATE INDEX cache_task ON cache(task, created_at);
CREATE TABLE deployed_tasks (
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    env TEXT NOT NULL,
    interface TEXT NOT NULL,
    settings TEXT NOT NULL,
    snapshot BLOB NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE changes (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    counter INTEGER NOT NULL
);
INSERT INTO changes (id, counter) VALUES (1, 0);
"""

# The public views: the stable surface for `flyte db query`, sqlite-utils and Datasette
# (docs/store-schema.md). Tables are internal and may change; a migration that changes a
# table these views read must recreate the view with the same columns (add columns at the
# end; a breaking change becomes a `_v2` view beside the `_v1` one). Blobs (pickled values)
# stay out: the views carry the JSON forms.
_PUBLIC_VIEWS = """
CREATE VIEW runs_v1 AS SELECT
    name, task, phase, created_at, started_at, ended_at,
    ended_at - started_at AS duration,
    inputs_json AS inputs, outputs_json AS outputs,
    error_type, error_message, traceback,
    recovered_from, interrupted, labels, settings, pid, host
FROM runs;
CREATE VIEW actions_v1 AS SELECT
    run, id, parent, name, kind, phase, grp AS "group", attempts,
    cache_status, cache_key, recovered, inputs_hash,
    inputs_json AS inputs, outputs_json AS outputs,
    error_type, error_message, traceback, started_at, ended_at,
    ended_at - started_at AS duration, settings, seq
FROM actions;
CREATE VIEW attempts_v1 AS SELECT
    run, action, attempt, phase, started_at, ended_at,
    ended_at - started_at AS duration, error_type, error_message
FROM attempts;
CREATE VIEW logs_v1 AS SELECT seq, run, action, attempt, ts, stream, line FROM logs;
CREATE VIEW cache_v1 AS SELECT
    key, task, parts, outputs_json AS outputs, created_at, run, action
FROM cache;
"""

# Reports of actions (`@env.task(report=True)`): one row per action, its tabs as JSON,
# replaced on every flush; removed with the run. Internal, like every table (no view yet).
_REPORTS = """
CREATE TABLE reports (
    run TEXT NOT NULL REFERENCES runs(name) ON DELETE CASCADE,
    action TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 1,
    tabs TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (run, action)
);
"""

# Where each attempt ran (inline / process worker pid / reused), its peak memory and how
# long it waited QUEUED for CPU or memory: a JSON object (flyte._controller.recorder.Placement).
# attempts_v1 gains it as its last column.
_ATTEMPT_PLACEMENT = """
ALTER TABLE attempts ADD COLUMN placement TEXT;
DROP VIEW IF EXISTS attempts_v1;
CREATE VIEW attempts_v1 AS SELECT
    run, action, attempt, phase, started_at, ended_at,
    ended_at - started_at AS duration, error_type, error_message, placement
FROM attempts;
"""

# Liveness judged by the process, not the heartbeat alone: the driver's start time makes a
# reused pid tell. A recovery takes a lease on its source run so it runs once (issue 13).
_DRIVER_START_AND_LEASES = """
ALTER TABLE runs ADD COLUMN pid_start TEXT;
CREATE TABLE recovery_leases (
    source TEXT PRIMARY KEY,
    run TEXT NOT NULL,
    pid INTEGER,
    host TEXT,
    pid_start TEXT,
    taken_at REAL NOT NULL
);
"""

# `get runs` counted every run's actions on each call (2.3 s at 1M actions); the counts
# now live on the run row, kept by triggers. An action recorded again (a trace in a later
# attempt) is an upsert, not a new row, so it counts once. Actions are only deleted with
# their run, so deletes need no trigger (and `flyte gc` pays nothing per row).
_RUN_ACTION_COUNTS = """
ALTER TABLE runs ADD COLUMN action_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN cache_hits INTEGER NOT NULL DEFAULT 0;
UPDATE runs SET
    action_count = (SELECT count(*) FROM actions a WHERE a.run = runs.name),
    cache_hits = (SELECT count(*) FROM actions a WHERE a.run = runs.name
                  AND a.cache_status = 'hit');
CREATE TRIGGER actions_counted AFTER INSERT ON actions BEGIN
    UPDATE runs SET action_count = action_count + 1,
                    cache_hits = cache_hits + (NEW.cache_status = 'hit')
    WHERE name = NEW.run;
END;
CREATE TRIGGER actions_hits_counted AFTER UPDATE OF cache_status ON actions
WHEN (OLD.cache_status = 'hit') != (NEW.cache_status = 'hit') BEGIN
    UPDATE runs SET cache_hits = cache_hits + (NEW.cache_status = 'hit')
                                             - (OLD.cache_status = 'hit')
    WHERE name = NEW.run;
END;
"""

# The insert trigger ran a statement per action row: a fifth of SQLite's time for a
# fan-out. The writer now adds each batch's new rows to the counts itself (see
# SqliteRunStore._apply); the update trigger stays (a cache status that changes later).
_COUNTS_PER_BATCH = """
DROP TRIGGER actions_counted;
"""

# An action that succeeded at its first attempt, in process, no longer writes an attempts
# row (a fifth of a fan-out's SQLite time); the view adds it from the action row, under
# the conditions of flyte._store._rows.implied_attempt, so readers see every attempt.
_IMPLIED_ATTEMPTS = """
DROP VIEW IF EXISTS attempts_v1;
CREATE VIEW attempts_v1 AS
SELECT run, action, attempt, phase, started_at, ended_at,
    ended_at - started_at AS duration, error_type, error_message, placement
FROM attempts
UNION ALL
SELECT a.run, a.id, 1, a.phase, a.started_at, a.ended_at,
    a.ended_at - a.started_at, NULL, NULL, '{"worker": "inline"}'
FROM actions a
WHERE a.kind = 'task' AND a.phase = 'SUCCEEDED' AND a.attempts = 1 AND a.recovered = 0
    AND a.cache_status != 'hit'
    AND NOT EXISTS (SELECT 1 FROM attempts t WHERE t.run = a.run AND t.action = a.id);
"""

# Every action row held its task's settings as JSON: about 300 bytes, the same for every
# action of a task, over a third of the row and a fifth of SQLite's time writing it. A
# row now holds "#<id>" of its settings here, written once per store; the store's reads
# and the view resolve it (rows written before keep their JSON). Never deleted: a writer
# keeps the ids it has used.
_SHARED_SETTINGS = """
CREATE TABLE shared_settings (id INTEGER PRIMARY KEY, json TEXT NOT NULL UNIQUE);
DROP VIEW IF EXISTS actions_v1;
CREATE VIEW actions_v1 AS SELECT
    run, id, parent, name, kind, phase, grp AS "group", attempts,
    cache_status, cache_key, recovered, inputs_hash,
    inputs_json AS inputs, outputs_json AS outputs,
    error_type, error_message, traceback, started_at, ended_at,
    ended_at - started_at AS duration,
    CASE WHEN actions.settings GLOB '#*' THEN (SELECT s.json FROM shared_settings s
        WHERE s.id = CAST(substr(actions.settings, 2) AS INTEGER)) ELSE actions.settings
    END AS settings,
    seq
FROM actions;
"""

# A run that ends, is aborted or is found dead marks its actions still QUEUED or RUNNING
# as ABORTED, in the same transaction (`sqlite._END_ACTIVE`): that scanned every action of
# the run (130 ms at 100,000 actions, in the batch a run's end waits for). Most actions
# are written already ended, so this index holds only the few active ones.
_ACTIVE_ACTIONS = """
CREATE INDEX actions_active ON actions (run) WHERE phase IN ('QUEUED', 'RUNNING');
"""

MIGRATIONS: list[tuple[str, str]] = [
    ("0001_initial", _V1),
    ("0002_public_views", _PUBLIC_VIEWS),
    ("0003_reports", _REPORTS),
    ("0004_attempt_placement", _ATTEMPT_PLACEMENT),
    ("0005_driver_start_and_recovery_leases", _DRIVER_START_AND_LEASES),
    ("0006_run_action_counts", _RUN_ACTION_COUNTS),
    ("0007_counts_per_batch", _COUNTS_PER_BATCH),
    ("0008_implied_attempts", _IMPLIED_ATTEMPTS),
    ("0009_shared_settings", _SHARED_SETTINGS),
    ("0010_active_actions", _ACTIVE_ACTIONS),
]

READ_OPTIONAL = frozenset({"0010_active_actions"})
"""Migrations a reader does not need (indexes): a read-only store may lack them."""

PUBLIC_VIEWS = ("runs_v1", "actions_v1", "attempts_v1", "logs_v1", "cache_v1")
"""The views `flyte db query` users and tools may rely on across migrations."""


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (a trigger body's `;` does not end one)."""
    out: list[str] = []
    current = ""
    for piece in sql.split(";"):
        current += piece + ";"
        if sqlite3.complete_statement(current):
            if current.strip(" \n;"):
                out.append(current.strip())
            current = ""
    return out


def check_foreign(path: str) -> None:
    """Refuse, without writing a byte, a SQLite file that is some other program's database.

    Runs on a read-only connection before the store's own connection switches the file to
    WAL (which would already change its header).

    Raises:
        StoreError: the file holds tables but no flyte migrations table.
    """
    if path == ":memory:" or not os.path.exists(path) or os.path.getsize(path) == 0:
        return
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = {
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return  # not a database at all: the connection factory reports it as corrupt
    if tables and "_migrations" not in tables:
        raise StoreError(
            f"{path} is a SQLite database but not a flyte run store (it has tables "
            f"{', '.join(sorted(tables)[:3])}); point FLYTE_HOME or --store elsewhere"
        )


def migrate(conn: sqlite3.Connection, path: str) -> None:
    """Apply the migrations `conn` lacks; refuse a store written by a newer version.

    Raises:
        StoreError: the store has migrations this version does not know.
    """
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
    )
    applied = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
    known = {name for name, _ in MIGRATIONS}
    unknown = sorted(applied - known)
    if unknown:
        raise StoreError(
            f"run store {path} was written by a newer flyte-local (schema {unknown[-1]}); "
            "upgrade flyte-local or set FLYTE_HOME to another folder"
        )
    for name, sql in MIGRATIONS:
        if name in applied:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-check under the write lock: another process may have migrated meanwhile.
            if conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone():
                conn.execute("ROLLBACK")
                continue
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, time.time())
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def check_current(conn: sqlite3.Connection, path: str, reason: str) -> None:
    """For a store opened read-only: refuse it unless its schema is exactly this version's.

    Raises:
        StoreError: the store is from a newer version, or needs migrations it cannot get.
    """
    try:
        applied = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
    except sqlite3.OperationalError as exc:
        raise StoreError(
            f"run store {path} is read-only ({reason}) and is not a flyte run store yet ({exc})"
        ) from exc
    known = [name for name, _ in MIGRATIONS]
    unknown = sorted(applied - set(known))
    if unknown:
        raise StoreError(
            f"run store {path} was written by a newer flyte-local (schema {unknown[-1]}); "
            "upgrade flyte-local or set FLYTE_HOME to another folder"
        )
    missing = [name for name in known if name not in applied and name not in READ_OPTIONAL]
    if missing:
        raise StoreError(
            f"run store {path} is read-only ({reason}) and needs an upgrade to this "
            f"version's schema ({missing[-1]}); open it once where it is writable"
        )
