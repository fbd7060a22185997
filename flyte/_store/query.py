"""Ad-hoc read-only SQL over a run store (`flyte db query`), through sqlite-utils.

Read-only three times over: the file is opened with `mode=ro` (SQLite itself refuses to
write it), `PRAGMA query_only` is set, and an authorizer allows only reads, so a query
cannot switch `query_only` back off, ATTACH (which would create a file) or VACUUM INTO
another file either. A refused statement raises `ReadOnlyQueryError`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flyte.errors import StoreError, UserError

__all__ = ["QueryResult", "ReadOnlyQueryError", "connect_readonly", "query"]

_ALLOWED = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    sqlite3.SQLITE_RECURSIVE,
    sqlite3.SQLITE_TRANSACTION,
}
# Pragmas that take an argument yet only read (introspection).
_READ_PRAGMAS = {
    "foreign_key_check",
    "foreign_key_list",
    "index_info",
    "index_list",
    "index_xinfo",
    "integrity_check",
    "quick_check",
    "table_info",
    "table_list",
    "table_xinfo",
}
# Pragmas that act even without an argument.
_ACTING_PRAGMAS = {"incremental_vacuum", "optimize", "shrink_memory", "wal_checkpoint"}


class ReadOnlyQueryError(UserError):
    """A query tried to write (or to change the connection) on a read-only connection."""


def _authorize(action: int, arg1: str | None, arg2: str | None, *_: Any) -> int:
    if action in _ALLOWED:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and arg1 is not None:
        name = arg1.lower()
        if name in _ACTING_PRAGMAS:
            return sqlite3.SQLITE_DENY
        if arg2 is None or name in _READ_PRAGMAS:
            return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def connect_readonly(path: str | Path) -> sqlite3.Connection:
    """A connection to the store file that cannot write (see the module docstring).

    Raises:
        StoreError: there is no readable store at `path`.
    """
    path = Path(path)
    if not path.is_file():
        raise StoreError(f"no run store at {path} (nothing has run yet, or --store is wrong)")
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=5.0, isolation_level=None)
        conn.execute("PRAGMA query_only = ON")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"run store {path} cannot be opened read-only: {exc}") from exc
    return conn


@dataclass
class QueryResult:
    """Column names and a lazy stream of row tuples (bytes stay bytes)."""

    columns: list[str]
    rows: Iterator[tuple[Any, ...]]
    conn: sqlite3.Connection

    def close(self) -> None:
        self.conn.close()


def query(path: str | Path, sql: str, params: Sequence[Any] = ()) -> QueryResult:
    """Run one read-only statement against the store at `path`.

    Raises:
        ReadOnlyQueryError: the statement would write or change the connection.
        UserError: the SQL is invalid (the message lists the public views when a table
            is unknown).
        StoreError: the store cannot be opened.
    """
    import sqlite_utils

    conn = connect_readonly(path)
    db = sqlite_utils.Database(conn)
    conn.set_authorizer(_authorize)
    try:
        cursor = db.execute(sql, list(params))
    except sqlite3.DatabaseError as exc:
        conn.set_authorizer(None)
        message = str(exc)
        hint = ""
        if "no such table" in message:
            from flyte._store.migrations import PUBLIC_VIEWS

            present = set(db.view_names())  # in their documented order, not creation's
            hint = f"; the public views are {', '.join(v for v in PUBLIC_VIEWS if v in present)}"
        conn.close()
        if _is_write_refusal(message):
            raise ReadOnlyQueryError(
                f"flyte db query is read-only: {_first_word(sql)} statements are refused "
                "(use flyte gc, flyte delete or flyte cache clear to change the store)"
            ) from None
        raise UserError(f"the query failed: {message}{hint}") from None
    columns = [d[0] for d in cursor.description or ()]
    return QueryResult(columns=columns, rows=iter(cursor), conn=conn)


def _is_write_refusal(message: str) -> bool:
    return any(m in message for m in ("not authorized", "authorization denied", "readonly"))


def _first_word(sql: str) -> str:
    words = sql.strip().split(None, 1)
    return words[0].upper() if words else "empty"
