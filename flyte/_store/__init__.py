"""The run store: where every run, action, log line and cache entry is recorded.

`RunStore` is the protocol; `SqliteRunStore` (durable, shared by processes) and
`MemoryRunStore` (tests, immediate mode) implement it. Writes arrive as batches of
operations, so the engine can group a fan-out's records into one transaction.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from flyte._models import (
        ActionRecord,
        AttemptRecord,
        CacheEntry,
        DeployedTask,
        LogLine,
        ReportRecord,
        RunRecord,
    )

__all__ = [
    "HEARTBEAT_INTERVAL",
    "HEARTBEAT_STALE",
    "Op",
    "RunStore",
    "default_store",
    "driver_is_dead",
    "flyte_home",
    "open_store",
]

Op = tuple[Any, ...]
"""One write: ("run_insert", row) | ("run_update", name, fields) | ("action_insert", row) |
("action_update", run, id, fields) | ("attempt_upsert", row) | ("log", row) |
("cache_put", row) | ("deploy", row) | ("report_put", row)."""

HEARTBEAT_INTERVAL = 1.0
HEARTBEAT_STALE = 30.0


class RunStore(Protocol):
    """Storage for runs, actions, attempts, logs, cache entries and deployed tasks."""

    path: str

    def write(self, ops: Sequence[Op]) -> None:
        """Apply a batch of operations atomically (one transaction)."""

    def get_run(self, name: str) -> RunRecord | None: ...
    def list_runs(
        self,
        *,
        phase: str | None = None,
        task: str | None = None,
        limit: int | None = 50,
        since: float | None = None,
        search: str | None = None,
    ) -> list[RunRecord]: ...
    def list_actions(self, run: str) -> list[ActionRecord]: ...
    def iter_actions(self, run: str, *, page: int = 2000) -> Iterator[list[ActionRecord]]:
        """A run's actions in `list_actions` order, a page at a time (bounded memory)."""
        ...

    def iter_logs(
        self,
        run: str,
        *,
        action_id: str | None = None,
        after: int = 0,
        attempt: int | None = None,
        page: int = 2000,
    ) -> Iterator[list[LogLine]]:
        """The lines `logs` returns, oldest first, a page at a time (bounded memory)."""
        ...

    def get_action(self, run: str, action_id: str) -> ActionRecord | None: ...
    def list_attempts(self, run: str, action_id: str | None = None) -> list[AttemptRecord]: ...
    def get_blob(self, run: str, action_id: str | None, which: str) -> bytes | None:
        """The exact (pickled) inputs or outputs of a run (`action_id=None`) or an action."""

    def run_task_blob(self, run: str) -> bytes | None: ...
    def successful_actions(self, run: str) -> dict[str, tuple[str | None, bytes | None, str]]:
        """id -> (inputs_hash, outputs_blob, kind) of every action that succeeded in `run`."""

    def logs(
        self,
        run: str,
        *,
        action_id: str | None = None,
        after: int = 0,
        attempt: int | None = None,
        limit: int | None = None,
    ) -> list[LogLine]: ...
    def get_report(self, run: str, action_id: str) -> ReportRecord | None:
        """The stored HTML report of an action, or None."""

    def report_actions(self, run: str) -> list[str]:
        """Ids of the actions of `run` that have a stored report."""

    def cache_get(self, key: str) -> tuple[CacheEntry, bytes] | None: ...
    def cache_lookup(self, key: str) -> tuple[str | None, bytes] | None:
        """Just the outputs (JSON, pickled) under `key`, for the engine's hot path."""

    def cache_outputs(
        self, task: str, *, max_entries: int = 5000, max_bytes: int = 64 << 20
    ) -> dict[str, tuple[str | None, bytes]] | None:
        """All of a task's cached outputs by key (loaded once per run), or None if too many."""

    def cache_entries(self, task: str | None = None) -> list[CacheEntry]: ...
    def cache_clear(self, task: str | None = None) -> int: ...
    def get_deployed(
        self, name: str, version: str | None = None
    ) -> tuple[DeployedTask, bytes] | None: ...
    def list_deployed(self) -> list[DeployedTask]: ...
    def request_abort(self, run: str) -> bool: ...
    def claim_recovery(self, source: str, run: str) -> None:
        """Take the lease that lets `run` recover `source`; one live recovery at a time.

        Raises:
            RunActiveError: `source` is still driven, or another live recovery holds it.
        """

    def abort_requested(self, run: str) -> bool: ...
    def delete_run(self, run: str) -> bool: ...
    def change_counter(self) -> int: ...
    def close(self) -> None: ...


def flyte_home() -> Path:
    """`$FLYTE_HOME`, or `~/.flyte`; read at call time, never at import."""
    return Path(os.environ.get("FLYTE_HOME") or "~/.flyte").expanduser()


def open_store(url: str | os.PathLike[str] | None = None) -> RunStore:
    """Open a store: None for `$FLYTE_HOME/runs.db`, "memory" / ":memory:", or a path.

    Raises:
        flyte.errors.StoreError: the file is corrupt or from a newer version.
    """
    if url is not None and str(url) in ("memory", ":memory:", "memory://"):
        from flyte._store.memory import MemoryRunStore

        return MemoryRunStore()
    from flyte._store.sqlite import SqliteRunStore

    path = Path(url) if url is not None else flyte_home() / "runs.db"
    return SqliteRunStore(path)


_default: dict[str, RunStore] = {}


def default_store() -> RunStore:
    """The process-wide store for `$FLYTE_HOME` (or `$FLYTE_STORE`), opened once per path."""
    url = os.environ.get("FLYTE_STORE") or str(flyte_home() / "runs.db")
    store = _default.get(url)
    if store is None:
        store = _default[url] = open_store(url)
    return store


def driver_is_dead(
    pid: int | None, host: str | None, heartbeat: float | None, pid_start: str | None = None
) -> bool:
    """Whether the process driving a QUEUED/RUNNING run is gone.

    On this host the process tells (pid plus start time, so a reused pid does not pass);
    elsewhere, or for rows written before start times were recorded, a heartbeat older
    than HEARTBEAT_STALE does.
    """
    from flyte._store._liveness import driver_alive

    return not driver_alive(pid, host, heartbeat, pid_start, stale_after=HEARTBEAT_STALE)
