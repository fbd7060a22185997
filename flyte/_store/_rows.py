"""Row dictionaries <-> record dataclasses, shared by both store implementations."""

from __future__ import annotations

import json
from typing import Any

from flyte._models import (
    ActionKind,
    ActionRecord,
    AttemptRecord,
    CacheEntry,
    CacheStatus,
    DeployedTask,
    LogLine,
    Phase,
    RunRecord,
)

__all__ = [
    "ACTION_COLUMNS",
    "ACTION_DEFAULTS",
    "INLINE_PLACEMENT",
    "RUN_DEFAULTS",
    "RUN_COLUMNS",
    "action_from_row",
    "attempt_from_row",
    "implied_attempt",
    "decode_json",
    "cache_from_row",
    "deployed_from_row",
    "log_from_row",
    "run_from_row",
]

RUN_COLUMNS = [
    "name",
    "task",
    "phase",
    "created_at",
    "started_at",
    "ended_at",
    "inputs_json",
    "inputs_blob",
    "outputs_json",
    "outputs_blob",
    "error_type",
    "error_message",
    "traceback",
    "pid",
    "host",
    "heartbeat",
    "recovered_from",
    "interrupted",
    "abort_requested",
    "settings",
    "labels",
    "task_blob",
    "pid_start",
]

ACTION_COLUMNS = [
    "run",
    "id",
    "parent",
    "name",
    "kind",
    "phase",
    "grp",
    "attempts",
    "cache_status",
    "cache_key",
    "recovered",
    "inputs_hash",
    "inputs_json",
    "inputs_blob",
    "outputs_json",
    "outputs_blob",
    "error_type",
    "error_message",
    "traceback",
    "started_at",
    "ended_at",
    "settings",
    "seq",
]


RUN_DEFAULTS: dict[str, Any] = {
    "started_at": None,
    "ended_at": None,
    "inputs_json": "{}",
    "inputs_blob": None,
    "outputs_json": None,
    "outputs_blob": None,
    "error_type": None,
    "error_message": None,
    "traceback": None,
    "pid": None,
    "host": None,
    "heartbeat": None,
    "recovered_from": None,
    "interrupted": 0,
    "abort_requested": 0,
    "settings": {},
    "labels": {},
    "task_blob": None,
    "pid_start": None,
}
ACTION_DEFAULTS: dict[str, Any] = {
    "parent": None,
    "kind": "task",
    "phase": "QUEUED",
    "grp": None,
    "attempts": 0,
    "cache_status": "disabled",
    "cache_key": None,
    "recovered": 0,
    "inputs_hash": None,
    "inputs_json": "{}",
    "inputs_blob": None,
    "outputs_json": None,
    "outputs_blob": None,
    "error_type": None,
    "error_message": None,
    "traceback": None,
    "started_at": None,
    "ended_at": None,
    "settings": {},
    "seq": 0,
}


def decode_json(text: str | None) -> Any:
    """Decode a stored JSON form; None stays None, undecodable text comes back as is."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _json(value: Any) -> Any:
    if isinstance(value, str):
        return json.loads(value) if value else {}
    return value or {}


def run_from_row(row: Any, action_count: int = 0, cache_hits: int = 0) -> RunRecord:
    return RunRecord(
        name=row["name"],
        task=row["task"],
        phase=Phase(row["phase"]),
        created_at=row["created_at"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        inputs_json=row["inputs_json"] or "{}",
        outputs_json=row["outputs_json"],
        error_type=row["error_type"],
        error_message=row["error_message"],
        traceback=row["traceback"],
        pid=row["pid"],
        host=row["host"],
        heartbeat=row["heartbeat"],
        recovered_from=row["recovered_from"],
        interrupted=bool(row["interrupted"]),
        settings=_json(row["settings"]),
        labels=_json(row["labels"]),
        action_count=action_count,
        cache_hits=cache_hits,
    )


def action_from_row(row: Any) -> ActionRecord:
    return ActionRecord(
        run=row["run"],
        id=row["id"],
        parent=row["parent"],
        name=row["name"],
        kind=ActionKind(row["kind"]),
        phase=Phase(row["phase"]),
        group=row["grp"],
        attempts=row["attempts"],
        cache_status=CacheStatus(row["cache_status"]),
        cache_key=row["cache_key"],
        recovered=bool(row["recovered"]),
        inputs_hash=row["inputs_hash"],
        inputs_json=row["inputs_json"] or "{}",
        outputs_json=row["outputs_json"],
        error_type=row["error_type"],
        error_message=row["error_message"],
        traceback=row["traceback"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        settings=_json(row["settings"]),
        seq=row["seq"] or 0,
    )


def attempt_from_row(row: Any) -> AttemptRecord:
    return AttemptRecord(
        run=row["run"],
        action=row["action"],
        attempt=row["attempt"],
        phase=Phase(row["phase"]),
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        error_type=row["error_type"],
        error_message=row["error_message"],
        placement=_json(_optional(row, "placement")),
    )


# An action that succeeded at its first attempt, in process, writes no attempts row: its
# action row says all there is (one row less per action of a big fan-out; issue 13).
# Readers add that attempt: `implied_attempt` here, the attempts_v1 view in SQLite
# (migration 0008), with the same conditions.
INLINE_PLACEMENT = '{"worker": "inline"}'


def implied_attempt(row: Any) -> dict[str, Any] | None:
    """The attempt an action row implies (see above), or None: it has attempts rows, or
    none at all (a cache hit, a recovered result, a trace)."""
    if (
        row["kind"] == "task"
        and row["phase"] == "SUCCEEDED"
        and row["attempts"] == 1
        and not row["recovered"]
        and row["cache_status"] != "hit"
    ):
        return {
            "run": row["run"],
            "action": row["id"],
            "attempt": 1,
            "phase": row["phase"],
            "started_at": row["started_at"],
            "ended_at": row["ended_at"],
            "error_type": None,
            "error_message": None,
            "placement": INLINE_PLACEMENT,
        }
    return None


def _optional(row: Any, column: str) -> Any:
    """A column added by a later migration (a memory-store row may lack it)."""
    try:
        return row[column]
    except (KeyError, IndexError):
        return None


def log_from_row(row: Any) -> LogLine:
    return LogLine(
        run=row["run"],
        action=row["action"],
        attempt=row["attempt"],
        ts=row["ts"],
        stream=row["stream"],
        line=row["line"],
        seq=row["seq"],
    )


def cache_from_row(row: Any) -> CacheEntry:
    return CacheEntry(
        key=row["key"],
        task=row["task"],
        parts=_json(row["parts"]),
        created_at=row["created_at"],
        run=row["run"],
        action=row["action"],
        outputs_json=row["outputs_json"],
    )


def deployed_from_row(row: Any) -> DeployedTask:
    return DeployedTask(
        name=row["name"],
        version=row["version"],
        env=row["env"],
        interface=_json(row["interface"]),
        settings=_json(row["settings"]),
        created_at=row["created_at"],
    )
