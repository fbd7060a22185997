"""Seed run stores with runs of chosen ages and phases, without executing anything."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

DAY = 86400.0
NOW = time.time()
ACTIVE = ("QUEUED", "RUNNING")


def seed_run(
    store: Any,
    name: str,
    *,
    age_days: float = 0.0,
    phase: str = "SUCCEEDED",
    actions: int = 3,
    logs: int = 2,
    line: str = "a log line",
    alive: bool = True,
    recovered_from: str | None = None,
    action_phase: str | None = None,
) -> None:
    """Record a run with `actions` actions (one attempt each) and `logs` lines per action.

    A QUEUED/RUNNING run is driven by this process when `alive`, else by a driver whose
    heartbeat stopped an hour ago.
    """
    created = NOW - age_days * DAY
    active = phase in ACTIVE
    run: dict[str, Any] = {
        "name": name,
        "task": "demo.main",
        "phase": phase,
        "created_at": created,
        "started_at": created,
        "ended_at": None if active else created + 1,
        "recovered_from": recovered_from,
    }
    if active:
        run.update(
            pid=os.getpid() if alive else None,
            host=socket.gethostname() if alive else None,
            heartbeat=time.time() if alive else time.time() - 3600,
        )
    ops: list[Any] = [("run_insert", run)]
    a_phase = action_phase or ("RUNNING" if active else "SUCCEEDED")
    for i in range(actions):
        aid = "a0" if i == 0 else f"{i:012x}"
        ops.append(
            (
                "action_insert",
                {
                    "run": name,
                    "id": aid,
                    "parent": None if i == 0 else "a0",
                    "name": "demo.main" if i == 0 else "demo.child",
                    "phase": a_phase,
                    "attempts": 1,
                    "started_at": created,
                    "ended_at": None if a_phase in ACTIVE else created + 1,
                    "outputs_json": "1",
                    "outputs_blob": b"\x80\x04K\x01.",
                    "seq": i,
                },
            )
        )
        ops.append(
            (
                "attempt_upsert",
                {"run": name, "action": aid, "attempt": 1, "phase": a_phase, "started_at": created},
            )
        )
        for j in range(logs):
            ops.append(
                (
                    "log",
                    {
                        "run": name,
                        "action": aid,
                        "attempt": 1,
                        "ts": created,
                        "stream": "stdout",
                        "line": f"{line} {j}",
                    },
                )
            )
    store.write(ops)


def run_names(store: Any) -> set[str]:
    return {r.name for r in store.list_runs(limit=None)}
