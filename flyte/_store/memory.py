"""MemoryRunStore: the in-process twin of SqliteRunStore, for tests and immediate mode."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
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
from flyte._store import Op
from flyte._store._rows import (
    ACTION_DEFAULTS as _ACTION_DEFAULTS,
)
from flyte._store._rows import (
    RUN_DEFAULTS as _RUN_DEFAULTS,
)
from flyte._store._rows import (
    action_from_row,
    attempt_from_row,
    cache_from_row,
    deployed_from_row,
    implied_attempt,
    log_from_row,
    run_from_row,
)
from flyte.errors import RunActiveError

__all__ = ["MemoryRunStore"]

_TERMINAL = frozenset(p.value for p in Phase if p.is_terminal)


_KINDS = frozenset(
    {
        "action_insert",
        "action_update",
        "log",
        "run_insert",
        "run_update",
        "abort_actions",
        "attempt_upsert",
        "cache_put",
        "deploy",
        "report_put",
    }
)


class MemoryRunStore:
    """A run store held in dictionaries; nothing survives the process.

    Example:
        flyte.init(store=MemoryRunStore())
    """

    def __init__(self) -> None:
        self.path = ":memory:"
        self._lock = threading.Lock()
        self._runs: dict[str, dict[str, Any]] = {}
        self._actions: dict[str, dict[str, dict[str, Any]]] = {}
        self._attempts: dict[tuple[str, str, int], dict[str, Any]] = {}
        self._logs: list[dict[str, Any]] = []
        self._cache: dict[str, dict[str, Any]] = {}
        self._deployed: dict[tuple[str, str], dict[str, Any]] = {}
        self._reports: dict[tuple[str, str], dict[str, Any]] = {}
        self._counter = 0
        self._leases: dict[str, str] = {}

    def write(self, ops: Sequence[Op]) -> None:
        """Apply a batch atomically: every op is checked before any is applied."""
        with self._lock:
            if len(ops) == 1:  # one op checks itself: its look-ups fail before it mutates
                self._apply(ops[0])
            else:
                self._check(ops)
                for op in ops:
                    self._apply(op)
            self._counter += 1

    def _check(self, ops: Sequence[Op]) -> None:
        # O(batch): look existing rows up directly, remember what the batch itself adds.
        new_runs: set[str] = set()
        new_actions: set[tuple[str, str]] = set()
        for op in ops:
            kind = op[0]
            if kind == "action_insert":
                new_actions.add((op[1]["run"], op[1]["id"]))
            elif kind == "action_update":
                if op[2] not in self._actions.get(op[1], ()) and (op[1], op[2]) not in new_actions:
                    raise KeyError(f"no action {op[2]!r} in run {op[1]!r}")
            elif kind == "run_insert":
                new_runs.add(op[1]["name"])
            elif kind == "run_update":
                if op[1] not in self._runs and op[1] not in new_runs:
                    raise KeyError(f"no run {op[1]!r}")
            elif kind not in _KINDS:
                raise ValueError(f"unknown store operation {kind!r}")

    def _apply(self, op: Op) -> None:
        kind = op[0]  # branches in order of frequency: this runs three times per action
        if kind == "action_insert":
            row = {**_ACTION_DEFAULTS, **op[1]}
            self._actions.setdefault(row["run"], {})[row["id"]] = row
        elif kind == "action_update":
            self._actions[op[1]][op[2]].update(op[3])
        elif kind == "attempt_upsert":
            row = {"ended_at": None, "error_type": None, "error_message": None, **op[1]}
            self._attempts[(row["run"], row["action"], row["attempt"])] = row
        elif kind == "log":
            self._logs.append({**op[1], "seq": len(self._logs) + 1})
        elif kind == "cache_put":
            self._cache[op[1]["key"]] = {"run": None, "action": None, "outputs_json": None, **op[1]}
        elif kind == "run_insert":
            self._runs[op[1]["name"]] = {**_RUN_DEFAULTS, **op[1]}
            self._actions.setdefault(op[1]["name"], {})
        elif kind == "run_update":
            self._runs[op[1]].update(op[2])
            if op[2].get("phase") in _TERMINAL:  # a terminal run has no running action
                self._abort_actions(op[1], op[2].get("ended_at"))
        elif kind == "abort_actions":
            self._abort_actions(op[1], op[2])
        elif kind == "deploy":
            self._deployed[(op[1]["name"], op[1]["version"])] = dict(op[1])
        elif kind == "report_put":
            if op[1]["run"] not in self._runs:
                raise KeyError(f"no run {op[1]['run']!r}")
            self._reports[(op[1]["run"], op[1]["action"])] = dict(op[1])
        else:
            raise ValueError(f"unknown store operation {kind!r}")

    def _abort_actions(self, run: str, ended: float | None) -> None:
        for row in self._actions.get(run, {}).values():
            if row["phase"] in ("QUEUED", "RUNNING"):
                row["phase"] = "ABORTED"
                row["ended_at"] = row["ended_at"] or ended

    def _record(self, row: dict[str, Any]) -> RunRecord:
        # Readers walk copies: `list()` of a dict is made in one step under the GIL, while
        # a Python loop over the dict itself fails if another thread records meanwhile.
        actions = list(self._actions.get(row["name"], {}).values())
        hits = sum(1 for a in actions if a["cache_status"] == "hit")
        return run_from_row(row, len(actions), hits)

    def get_run(self, name: str) -> RunRecord | None:
        row = self._runs.get(name)
        return None if row is None else self._record(row)

    def list_runs(
        self,
        *,
        phase: str | None = None,
        task: str | None = None,
        limit: int | None = 50,
        since: float | None = None,
        search: str | None = None,
    ) -> list[RunRecord]:
        rows = sorted(self._runs.values(), key=lambda r: r["created_at"], reverse=True)
        if phase:
            rows = [r for r in rows if r["phase"] == str(phase).upper()]
        if task:
            rows = [r for r in rows if r["task"] == task or r["task"].endswith(f".{task}")]
        if since is not None:
            rows = [r for r in rows if r["created_at"] >= since]
        if search:
            rows = [r for r in rows if search in r["name"] or search in r["task"]]
        return [self._record(r) for r in rows[:limit] if r]

    def run_task_blob(self, run: str) -> bytes | None:
        row = self._runs.get(run)
        return None if row is None else row["task_blob"]

    def request_abort(self, run: str) -> bool:
        row = self._runs.get(run)
        if row is None or Phase(row["phase"]).is_terminal:
            return False
        self.write([("run_update", run, {"abort_requested": 1})])
        return True

    def abort_requested(self, run: str) -> bool:
        row = self._runs.get(run)
        return bool(row and row["abort_requested"])

    def claim_recovery(self, source: str, run: str) -> None:
        """Take the lease that lets `run` recover `source` (see SqliteRunStore).

        Raises:
            RunActiveError: `source` is still running, or another recovery of it is.
        """
        with self._lock:
            row = self._runs.get(source)
            if row is not None and row["phase"] in ("QUEUED", "RUNNING"):
                raise RunActiveError(
                    f"run {source} is still {row['phase']}; wait for it or abort it first"
                )
            holder = self._leases.get(source)
            held = self._runs.get(holder) if holder is not None else None
            if holder != run and held is not None and held["phase"] in ("QUEUED", "RUNNING"):
                raise RunActiveError(f"run {source} is already being recovered by run {holder}")
            self._leases[source] = run

    def delete_run(self, run: str) -> bool:
        """Delete a run with its actions, attempts and logs.

        Raises:
            RunActiveError: the run is still running in this process.
        """
        row = self._runs.get(run)
        if row is not None and row["phase"] in ("QUEUED", "RUNNING"):
            raise RunActiveError(f"run {run} is still {row['phase']}; abort it first")
        with self._lock:
            found = self._runs.pop(run, None) is not None
            self._actions.pop(run, None)
            self._attempts = {k: v for k, v in self._attempts.items() if k[0] != run}
            self._logs = [r for r in self._logs if r["run"] != run]
            self._reports = {k: v for k, v in self._reports.items() if k[0] != run}
            self._counter += 1
        return found

    def get_report(self, run: str, action_id: str) -> ReportRecord | None:
        row = self._reports.get((run, action_id))
        if row is None:
            return None
        return ReportRecord(
            run=run,
            action=action_id,
            attempt=row["attempt"],
            tabs=dict(row["tabs"]),
            updated_at=row["ts"],
        )

    def report_actions(self, run: str) -> list[str]:
        rows = sorted((r["ts"], a) for (r_run, a), r in list(self._reports.items()) if r_run == run)
        return [a for _, a in rows]

    def list_actions(self, run: str) -> list[ActionRecord]:
        rows = sorted(
            self._actions.get(run, {}).values(),
            key=lambda r: (r["started_at"] or 0.0, r["seq"]),
        )
        return [action_from_row(r) for r in rows]

    def iter_actions(self, run: str, *, page: int = 2000) -> Iterator[list[ActionRecord]]:
        """A run's actions in `list_actions` order, `page` at a time."""
        found = self.list_actions(run)
        for start in range(0, len(found), page):
            yield found[start : start + page]

    def iter_logs(
        self,
        run: str,
        *,
        action_id: str | None = None,
        after: int = 0,
        attempt: int | None = None,
        page: int = 2000,
    ) -> Iterator[list[LogLine]]:
        """The lines `logs` returns, oldest first, `page` at a time."""
        found = self.logs(run, action_id=action_id, after=after, attempt=attempt)
        for start in range(0, len(found), page):
            yield found[start : start + page]

    def get_action(self, run: str, action_id: str) -> ActionRecord | None:
        row = self._actions.get(run, {}).get(action_id)
        return None if row is None else action_from_row(row)

    def list_attempts(self, run: str, action_id: str | None = None) -> list[AttemptRecord]:
        rows = [
            r
            for (r_run, r_action, _), r in sorted(self._attempts.items())
            if r_run == run and (action_id is None or r_action == action_id)
        ]
        recorded = {r["action"] for r in rows}
        actions = self._actions.get(run, {})
        for aid in list(actions) if action_id is None else [action_id]:
            row = actions.get(aid)
            if row is not None and aid not in recorded:
                implied = implied_attempt(row)
                if implied is not None:
                    rows.append(implied)
        if action_id is None:
            rows.sort(key=lambda r: (r["started_at"], r["action"], r["attempt"]))
        return [attempt_from_row(r) for r in rows]

    def get_blob(self, run: str, action_id: str | None, which: str) -> bytes | None:
        column = {"inputs": "inputs_blob", "outputs": "outputs_blob"}[which]
        row = (
            self._runs.get(run) if action_id is None else self._actions.get(run, {}).get(action_id)
        )
        if row is None:
            return None
        if row[column] is None and which == "outputs" and action_id is not None:
            return self._cached_blob(row)
        return row[column]  # type: ignore[no-any-return]

    def _cached_blob(self, row: dict[str, Any]) -> bytes | None:
        """A cache hit keeps its outputs in the cache entry only."""
        entry = self._cache.get(row["cache_key"]) if row["cache_key"] else None
        return None if entry is None else entry["outputs_blob"]  # type: ignore[no-any-return]

    def successful_actions(self, run: str) -> dict[str, tuple[str | None, bytes | None, str]]:
        return {
            r["id"]: (r["inputs_hash"], r["outputs_blob"] or self._cached_blob(r), r["kind"])
            for r in list(self._actions.get(run, {}).values())
            if r["phase"] == Phase.SUCCEEDED.value
        }

    def logs(
        self,
        run: str,
        *,
        action_id: str | None = None,
        after: int = 0,
        attempt: int | None = None,
        limit: int | None = None,
    ) -> list[LogLine]:
        rows = [
            r
            for r in self._logs
            if r["run"] == run
            and r["seq"] > after
            and (action_id is None or r["action"] == action_id)
            and (attempt is None or r["attempt"] == attempt)
        ]
        if limit is not None:
            rows = rows[-limit:] if limit else []
        return [log_from_row(r) for r in rows]

    def cache_get(self, key: str) -> tuple[CacheEntry, bytes] | None:
        row = self._cache.get(key)
        return None if row is None else (cache_from_row(row), row["outputs_blob"])

    def cache_lookup(self, key: str) -> tuple[str | None, bytes] | None:
        row = self._cache.get(key)
        return None if row is None else (row["outputs_json"], row["outputs_blob"])

    def cache_outputs(
        self, task: str, *, max_entries: int = 5000, max_bytes: int = 64 << 20
    ) -> dict[str, tuple[str | None, bytes]] | None:
        # Look-ups are dict reads already: nothing to gain from loading ahead.
        return None

    def cache_entries(self, task: str | None = None) -> list[CacheEntry]:
        rows = sorted(self._cache.values(), key=lambda r: r["created_at"], reverse=True)
        if task is not None:
            rows = [r for r in rows if r["task"] == task or r["task"].endswith(f".{task}")]
        return [cache_from_row(r) for r in rows]

    def cache_clear(self, task: str | None = None) -> int:
        with self._lock:
            doomed = [
                k
                for k, r in self._cache.items()
                if task is None or r["task"] == task or r["task"].endswith(f".{task}")
            ]
            for k in doomed:
                del self._cache[k]
            self._counter += 1
        return len(doomed)

    def get_deployed(
        self, name: str, version: str | None = None
    ) -> tuple[DeployedTask, bytes] | None:
        rows = [
            r for (n, v), r in list(self._deployed.items()) if n == name and version in (None, v)
        ]
        if not rows:
            return None
        row = max(rows, key=lambda r: r["created_at"])
        return deployed_from_row(row), row["snapshot"]

    def list_deployed(self) -> list[DeployedTask]:
        rows = sorted(self._deployed.values(), key=lambda r: (r["name"], -r["created_at"]))
        return [deployed_from_row(r) for r in rows]

    def change_counter(self) -> int:
        return self._counter

    def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return f"MemoryRunStore(runs={len(self._runs)}, at={time.time():.0f})"
