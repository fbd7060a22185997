"""Offloaded value files that no row refers to any more: found by gc, checked by `db check`.

A value too big for a row lives in `blobs/<sha256>` beside the store, and the row keeps a
reference (`flyte._store.blobs`, whose `REF_PREFIX` marks one; without that module there
are no such files and all of this does nothing). When gc deletes rows, their files stay.

Deleting one safely is the subtle part: a writer that stores a value whose file already
exists reuses the file without touching it, inside its write transaction. So the sweep
reads every reference in one read snapshot (no lock held, however long it takes), then
takes the write lock only to compare the store's change counter with the snapshot's: if
nothing was committed since, the unreferenced files are really unreferenced and go while
the lock is held (a few unlinks); if something was, it tries again, and after a few tries
leaves the files for the next gc.
"""

from __future__ import annotations

import importlib
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["SweepResult", "blob_folder", "missing_blobs", "sweep_blobs"]

_DIGEST = re.compile(r"[0-9a-f]{64}")
_TMP = re.compile(r"\.[0-9a-f]{64}\.\d+\.tmp")
ABANDONED = 3600.0  # a half-written file this old belongs to a writer that died


@dataclass(frozen=True, kw_only=True)
class SweepResult:
    """What a sweep deleted, or why it deleted nothing."""

    files: int = 0
    bytes: int = 0
    note: str | None = None


def _prefix() -> bytes | None:
    try:
        return bytes(importlib.import_module("flyte._store.blobs").REF_PREFIX)
    except (ImportError, AttributeError):
        return None


def blob_folder(store: Any) -> Path:
    """Where the offloaded values of `store` live."""
    return Path(store.path).parent / "blobs"


def _references(conn: sqlite3.Connection, prefix: bytes) -> set[str]:
    """Digests of every offloaded value a row refers to, in any BLOB column of any table."""
    found: set[str] = set()
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
    ]
    for table in tables:
        for column in conn.execute(f'PRAGMA table_info("{table}")').fetchall():
            if str(column[2]).upper() != "BLOB":
                continue
            rows = conn.execute(
                f'SELECT substr("{column[1]}", ?) FROM "{table}" '
                f'WHERE substr("{column[1]}", 1, ?) = ?',
                (len(prefix) + 1, len(prefix), prefix),
            ).fetchall()
            found.update(bytes(r[0]).decode("ascii", "replace") for r in rows)
    return found


def _counter(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT counter FROM changes WHERE id = 1").fetchall()[0][0])


def sweep_blobs(store: Any, *, tries: int = 3) -> SweepResult:
    """Delete the offloaded value files of a SqliteRunStore that no row refers to."""
    prefix = _prefix()
    folder = blob_folder(store)
    if prefix is None or not folder.is_dir():
        return SweepResult()
    now = time.time()
    for leftover in folder.iterdir():
        if _TMP.fullmatch(leftover.name) and now - leftover.stat().st_mtime > ABANDONED:
            leftover.unlink(missing_ok=True)
    conn: sqlite3.Connection = store._conn()
    for attempt in range(tries):
        started = time.time()
        conn.execute("BEGIN")  # one read snapshot for the counter and every reference
        try:
            seen = _counter(conn)
            referenced = _references(conn, prefix)
        finally:
            conn.execute("ROLLBACK")
        # A file newer than the snapshot may belong to a row committed after it.
        doomed = [
            f
            for f in folder.iterdir()
            if _DIGEST.fullmatch(f.name)
            and f.name not in referenced
            and f.stat().st_mtime < started - 1.0
        ]
        if not doomed:
            return SweepResult()
        with store._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if _counter(conn) == seen:
                    freed = 0
                    for f in doomed:
                        try:
                            freed += f.stat().st_size
                            f.unlink()
                        except FileNotFoundError:
                            continue
                    return SweepResult(files=len(doomed), bytes=freed)
            finally:
                conn.execute("ROLLBACK")
        time.sleep(0.05 * (attempt + 1))
    return SweepResult(
        note="unreferenced value files in blobs/ stay until a gc finds the store quiet "
        "for a moment (runs were writing all along)"
    )


def missing_blobs(store: Any) -> list[str]:
    """Digests that rows refer to but whose file is gone."""
    prefix = _prefix()
    if prefix is None:
        return []
    folder = blob_folder(store)
    referenced = _references(store._conn(), prefix)
    return sorted(d for d in referenced if not (folder / d).is_file())
