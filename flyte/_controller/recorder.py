"""Typed recorder ops: the engine's only way to write to a run store.

Each method is one op (run started, action started, attempt finished, trace recorded, log
line, ...). The column names of the store's rows appear here and in `flyte/_store` only;
the engine, the trace wrappers and the worker channel call these methods. Ops are queued to
the batching `Writer`, so none of them waits for SQLite.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, TypedDict

from flyte._models import CacheStatus, Phase

if TYPE_CHECKING:
    from flyte._controller.writer import Writer

__all__ = ["ErrorFields", "Placement", "Recorder", "TraceRecord"]

_RUNNING = Phase.RUNNING.value
_SUCCEEDED = Phase.SUCCEEDED.value
_ABORTED = Phase.ABORTED.value
_CACHE_HIT = CacheStatus.HIT.value
_INLINE = {"worker": "inline"}


class ErrorFields(TypedDict, total=False):
    """How an error is recorded: its type (or `.code`), message and the user's traceback."""

    error_type: str
    error_message: str
    traceback: str


class Placement(TypedDict, total=False):
    """Where an attempt ran: "inline", "process" or "dask"; a worker's pid; reuse; peak RSS."""

    worker: str
    pid: int
    address: str
    """The Dask worker's address."""
    note: str
    """What the executor could not honour (e.g. resources no Dask worker declares)."""
    reused: bool
    peak_rss: int
    queued_s: float


class TraceRecord:
    """One `@flyte.trace` call, finished (or replayed), as the recorder stores it.

    Picklable and small: a worker process sends these to the controller over the channel.
    """

    __slots__ = (
        "attempt",
        "blob",
        "ended_at",
        "error",
        "group",
        "id",
        "inputs_hash",
        "inputs_json",
        "name",
        "outputs_json",
        "parent",
        "phase",
        "recovered",
        "seq",
        "started_at",
    )

    def __init__(
        self,
        *,
        id: str,
        parent: str,
        name: str,
        phase: str,
        attempt: int,
        seq: int,
        group: str | None,
        inputs_hash: str,
        inputs_json: str,
        started_at: float,
        ended_at: float,
        outputs_json: str | None = None,
        blob: bytes | None = None,
        recovered: bool = False,
        error: ErrorFields | None = None,
    ) -> None:
        self.id = id
        self.parent = parent
        self.name = name
        self.phase = phase
        self.attempt = attempt
        self.seq = seq
        self.group = group
        self.inputs_hash = inputs_hash
        self.inputs_json = inputs_json
        self.started_at = started_at
        self.ended_at = ended_at
        self.outputs_json = outputs_json
        self.blob = blob
        self.recovered = recovered
        self.error = error

    def __getstate__(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        for name, value in zip(self.__slots__, state, strict=True):
            setattr(self, name, value)


class Recorder:
    """Typed writes for one store, through its batching writer.

    Example:
        rec = Recorder(writer)
        rec.action_started("run-1", "a0", parent=None, name="env.main", ...)
        rec.attempt_succeeded("run-1", "a0", 1, started_at=t0, ended_at=t1, outputs_json="1", ...)
    """

    __slots__ = ("writer",)

    def __init__(self, writer: Writer) -> None:
        self.writer = writer

    def flush(self, timeout: float | None = None) -> None:
        self.writer.flush(timeout)

    # -- runs ----------------------------------------------------------------------

    def run_started(
        self,
        name: str,
        *,
        task: str,
        started_at: float,
        inputs_json: str,
        inputs_blob: bytes | None,
        pid: int,
        host: str,
        recovered_from: str | None,
        settings: dict[str, Any],
        labels: dict[str, str],
        task_blob: bytes | None,
        pid_start: str | None = None,
    ) -> None:
        self.writer.put(
            (
                "run_insert",
                {
                    "name": name,
                    "task": task,
                    "phase": _RUNNING,
                    "created_at": started_at,
                    "started_at": started_at,
                    "inputs_json": inputs_json,
                    "inputs_blob": inputs_blob,
                    "pid": pid,
                    "pid_start": pid_start,
                    "host": host,
                    "heartbeat": started_at,
                    "recovered_from": recovered_from,
                    "settings": settings,
                    "labels": labels,
                    "task_blob": task_blob,
                },
            )
        )

    def run_heartbeat(self, name: str, now: float) -> None:
        self.writer.put(("run_update", name, {"heartbeat": now}))

    def run_succeeded(
        self, name: str, *, outputs_json: str, outputs_blob: bytes | None, ended_at: float
    ) -> None:
        self.writer.put(
            (
                "run_update",
                name,
                {
                    "phase": _SUCCEEDED,
                    "ended_at": ended_at,
                    "outputs_json": outputs_json,
                    "outputs_blob": outputs_blob,
                },
            )
        )

    def run_failed(
        self, name: str, *, phase: Phase, ended_at: float, error: ErrorFields | None
    ) -> None:
        """The run ended FAILED, TIMED_OUT or ABORTED; an abort also ends its open actions."""
        fields: dict[str, Any] = {"phase": phase.value, "ended_at": ended_at}
        if phase is Phase.ABORTED:
            fields.update(error_type="Aborted", error_message="the run was aborted")
            self.writer.put(("abort_actions", name, ended_at))
        elif error:
            fields.update(error)
        self.writer.put(("run_update", name, fields))

    # -- actions -------------------------------------------------------------------

    def action_started(
        self,
        run: str,
        action_id: str,
        *,
        parent: str | None,
        name: str,
        phase: str,
        group: str | None,
        inputs_hash: str,
        inputs_json: str,
        started_at: float,
        settings: dict[str, Any],
        seq: int,
    ) -> None:
        self.writer.put(
            (
                "action_insert",
                {
                    "run": run,
                    "id": action_id,
                    "parent": parent,
                    "name": name,
                    "kind": "task",
                    "phase": phase,
                    "grp": group,
                    "inputs_hash": inputs_hash,
                    "inputs_json": inputs_json,
                    "started_at": started_at,
                    "attempts": 1,
                    "settings": settings,
                    "seq": seq,
                },
            )
        )

    def action_running(self, run: str, action_id: str, attempt: int) -> None:
        """Attempt `attempt` starts (a retry, or the first after waiting QUEUED)."""
        self.writer.update_action(run, action_id, {"attempts": attempt, "phase": _RUNNING})

    def action_queued(self, run: str, action_id: str, attempt: int) -> None:
        """The attempt waits for CPU or memory held by other attempts."""
        self.writer.update_action(
            run, action_id, {"attempts": attempt, "phase": Phase.QUEUED.value}
        )

    def action_recovered(
        self, run: str, action_id: str, *, outputs_json: str, outputs_blob: bytes
    ) -> None:
        self.writer.update_action(
            run,
            action_id,
            {
                "phase": _SUCCEEDED,
                "recovered": 1,
                "outputs_json": outputs_json,
                "outputs_blob": outputs_blob,
                "ended_at": time.time(),
            },
        )

    def action_cache_hit(
        self, run: str, action_id: str, *, cache_key: str, outputs_json: str | None
    ) -> None:
        self.writer.update_action(
            run,
            action_id,
            {
                "phase": _SUCCEEDED,
                "cache_status": _CACHE_HIT,
                "cache_key": cache_key,
                "outputs_json": outputs_json,
                "ended_at": time.time(),
            },
        )

    def attempt_succeeded(
        self,
        run: str,
        action_id: str,
        attempt: int,
        *,
        started_at: float,
        ended_at: float,
        placement: Placement | None,
        outputs_json: str,
        outputs_blob: bytes | None,
        cache_status: str,
        cache_key: str | None,
    ) -> None:
        """The attempt succeeded, and with it the action: its attempt row and outputs.

        The first attempt, run in process, writes no attempts row: the action row implies
        it (`flyte._store._rows.implied_attempt`), one row less per action.
        """
        if attempt != 1 or (placement and placement != _INLINE):
            row: dict[str, Any] = {
                "run": run,
                "action": action_id,
                "attempt": attempt,
                "phase": _SUCCEEDED,
                "started_at": started_at,
                "ended_at": ended_at,
            }
            if placement:
                row["placement"] = placement
            self.writer.put(("attempt_upsert", row))
        fields: dict[str, Any] = {
            "phase": _SUCCEEDED,
            "outputs_json": outputs_json,
            "outputs_blob": outputs_blob,
            "ended_at": ended_at,
            "cache_status": cache_status,
        }
        if cache_key is not None:
            fields["cache_key"] = cache_key
        self.writer.update_action(run, action_id, fields)

    def action_failed(
        self,
        run: str,
        action_id: str,
        *,
        phase: str,
        ended_at: float,
        attempts: int | None = None,
        cache_status: str | None = None,
        error: ErrorFields | None = None,
    ) -> None:
        fields: dict[str, Any] = {"phase": phase, "ended_at": ended_at}
        if attempts is not None:
            fields["attempts"] = attempts
        if cache_status is not None:
            fields["cache_status"] = cache_status
        if error:
            fields.update(error)
        self.writer.update_action(run, action_id, fields)

    def attempt_finished(
        self,
        run: str,
        action_id: str,
        attempt: int,
        *,
        phase: str,
        started_at: float,
        ended_at: float,
        error: ErrorFields | None = None,
        placement: Placement | None = None,
    ) -> None:
        row: dict[str, Any] = {
            "run": run,
            "action": action_id,
            "attempt": attempt,
            "phase": phase,
            "started_at": started_at,
            "ended_at": ended_at,
        }
        if error:
            row["error_type"] = error.get("error_type")
            row["error_message"] = error.get("error_message")
        if placement:
            row["placement"] = placement
        self.writer.put(("attempt_upsert", row))

    # -- traces, logs, cache -------------------------------------------------------

    def trace_recorded(self, run: str, trace: TraceRecord) -> None:
        row: dict[str, Any] = {
            "run": run,
            "id": trace.id,
            "parent": trace.parent,
            "name": trace.name,
            "kind": "trace",
            "phase": trace.phase,
            "grp": trace.group,
            "attempts": trace.attempt,
            "recovered": int(trace.recovered),
            "inputs_hash": trace.inputs_hash,
            "inputs_json": trace.inputs_json,
            "outputs_json": trace.outputs_json,
            "outputs_blob": trace.blob,
            "started_at": trace.started_at,
            "ended_at": trace.ended_at,
            "seq": trace.seq,
        }
        if trace.error:
            row.update(trace.error)
        self.writer.put(("action_insert", row))

    def log(
        self, run: str, action_id: str, attempt: int, stream: str, line: str, ts: float
    ) -> None:
        self.writer.put(
            (
                "log",
                {
                    "run": run,
                    "action": action_id,
                    "attempt": attempt,
                    "ts": ts,
                    "stream": stream,
                    "line": line,
                },
            )
        )

    def cache_put(
        self,
        key: str,
        *,
        task: str,
        parts: dict[str, Any],
        outputs_json: str,
        outputs_blob: bytes,
        created_at: float,
        run: str,
        action_id: str,
    ) -> None:
        self.writer.put(
            (
                "cache_put",
                {
                    "key": key,
                    "task": task,
                    "parts": parts,
                    "outputs_json": outputs_json,
                    "outputs_blob": outputs_blob,
                    "created_at": created_at,
                    "run": run,
                    "action": action_id,
                },
            )
        )
