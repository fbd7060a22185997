"""gc while four other processes write the same store: no lock error, no lost row."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from upkeep_helpers import DAY, NOW, run_names, seed_run

from flyte._store.stats import check
from flyte._store.upkeep import GcPolicy, gc

# Each writer records runs of 10 actions and 10 log lines, one transaction per run, until
# the stop file appears; it prints how many it wrote and every error it met.
_WRITER = r"""
import json, os, sys, time
from flyte._store.sqlite import SqliteRunStore

path, wid, ready, stop = sys.argv[1:5]
store = SqliteRunStore(path)
written, errors = 0, []
open(ready, "w").close()
deadline = time.monotonic() + 90
while not os.path.exists(stop) and time.monotonic() < deadline:
    name = f"w{wid}-{written}"
    now = time.time()
    ops = [("run_insert", {"name": name, "task": "w.main", "phase": "SUCCEEDED",
                           "created_at": now, "started_at": now, "ended_at": now})]
    for i in range(10):
        aid = "a0" if i == 0 else f"{i:012x}"
        ops.append(("action_insert", {"run": name, "id": aid, "parent": None if i == 0 else "a0",
                                      "name": "w.main", "phase": "SUCCEEDED", "seq": i}))
        ops.append(("log", {"run": name, "action": aid, "attempt": 1, "ts": now,
                            "stream": "stdout", "line": f"line {i}"}))
    try:
        store.write(ops)
        written += 1
    except Exception as exc:
        errors.append(repr(exc))
print(json.dumps({"written": written, "errors": errors}))
"""


def _wait_for(paths: list[Path], deadline: float) -> None:
    while not all(p.exists() for p in paths):
        assert time.monotonic() < deadline, "the writers did not start in time"
        time.sleep(0.02)


def test_gc_while_four_processes_write(sqlite_store: Any, tmp_path: Path) -> None:
    for i in range(60):
        seed_run(sqlite_store, f"old-{i}", age_days=40, actions=150, logs=2)
    stop = tmp_path / "stop"
    ready = [tmp_path / f"ready-{i}" for i in range(4)]
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, sqlite_store.path, str(i), str(ready[i]), str(stop)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    try:
        _wait_for(ready, time.monotonic() + 60)
        before = len(run_names(sqlite_store))
        report = gc(sqlite_store, GcPolicy(older_than=30 * DAY), now=NOW)
        during = len(run_names(sqlite_store)) - (before - len(report.runs))
    finally:
        stop.touch()
        results = []
        for proc in writers:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            results.append(json.loads(out))
    assert len(report.runs) == 60
    assert [r["errors"] for r in results] == [[], [], [], []]
    assert during > 0, "the writers wrote nothing while gc ran"
    # Every run each writer committed is there, whole.
    names = run_names(sqlite_store)
    for wid, result in enumerate(results):
        assert result["written"] > 0
        for k in range(result["written"]):
            assert f"w{wid}-{k}" in names
    conn = sqlite_store._conn()
    counts = conn.execute(
        "SELECT count(*), sum(n = 10) FROM (SELECT run, count(*) AS n FROM actions GROUP BY run)"
    ).fetchone()
    total = sum(r["written"] for r in results)
    assert tuple(counts) == (total, total)
    assert conn.execute("SELECT count(*) FROM logs").fetchone()[0] == 10 * total
    assert not any(n.startswith("old-") for n in names)
    assert check(sqlite_store).ok
