"""A run that ends just as a reader finds its driver gone stays ended (not "interrupted").

A reader (`flyte serve` answering a long-poll, `flyte get runs` in another terminal) reads
a RUNNING row, then checks the driver's pid. If the driver committed SUCCEEDED and exited
between the two, the reader must not overwrite the ended run with ABORTED/interrupted.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from flyte._models import Phase
from flyte._store.sqlite import SqliteRunStore


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(30)
    return proc.pid


def _running(name: str, pid: int) -> dict[str, object]:
    now = time.time()
    return {
        "name": name,
        "task": "env.main",
        "phase": "RUNNING",
        "created_at": now,
        "started_at": now,
        "pid": pid,
        "host": socket.gethostname(),
        "heartbeat": now,
    }


def test_a_run_that_ended_after_it_was_read_is_not_reaped(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "runs.db")
    pid = _dead_pid()
    store.write([("run_insert", _running("just-ended", pid))])
    stale = store._query("SELECT * FROM runs WHERE name = ?", ("just-ended",))
    # The driver commits its end (through its own connection) after the reader's read...
    driver = SqliteRunStore(tmp_path / "runs.db")
    driver.write([("run_update", "just-ended", {"phase": "SUCCEEDED", "ended_at": time.time()})])
    # ...and exits; the reader now finds the pid dead and reaps what it read.
    store._reap(stale)
    record = store.get_run("just-ended")
    assert record is not None
    assert record.phase is Phase.SUCCEEDED
    assert not record.interrupted


def test_a_run_whose_driver_died_is_still_reaped(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "runs.db")
    store.write([("run_insert", _running("orphan", _dead_pid()))])
    before = store.change_counter()
    record = store.get_run("orphan")
    assert record is not None
    assert record.phase is Phase.ABORTED and record.interrupted
    assert record.error_message == "the process driving this run died"
    assert store.change_counter() > before
