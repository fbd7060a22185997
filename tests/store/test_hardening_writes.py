"""A failed write is never silent (issue 13, item 2).

A full disk is produced for real: a file-size limit of 0 (RLIMIT_FSIZE) in a subprocess
makes every write of the store fail with the kernel's EFBIG, exactly the path a full
disk takes through SQLite; raising the limit again is "space returns".
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import flyte
from flyte._models import Phase
from flyte._store.sqlite import SqliteRunStore
from flyte.errors import StoreError

DISK_FULL_DRIVER = """
import json, resource, sys
import flyte
from flyte._store.sqlite import SqliteRunStore
from flyte.errors import StoreError

store = SqliteRunStore(sys.argv[1])
flyte.init(store=store)
env = flyte.TaskEnvironment("full")
_, HARD = resource.getrlimit(resource.RLIMIT_FSIZE)


@env.task
def leaf(i: int) -> int:
    return i


@env.task
def fan(n: int) -> int:
    return sum(leaf(i) for i in range(n))


@env.task
def fill(n: int) -> int:
    total = 0
    for i in range(n):
        if i == 3:
            resource.setrlimit(resource.RLIMIT_FSIZE, (0, HARD))  # the disk is full now
        total += leaf(i)  # until the engine refuses to go on unrecorded
    return total


out = {"first": flyte.with_runcontext(name="first", echo=False).run(fan, 5).name}
try:
    flyte.with_runcontext(name="doomed", echo=False).run(fill, 10**6)
    out["error"] = None
except StoreError as exc:
    out["error"] = str(exc)
resource.setrlimit(resource.RLIMIT_FSIZE, (HARD, HARD))  # space returns
out["next"] = flyte.with_runcontext(name="next", echo=False).run(fan, 4).outputs()[0]
print(json.dumps(out))
"""


def test_a_full_disk_fails_the_run_with_the_cause_and_recording_resumes(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    script = tmp_path / "driver.py"
    script.write_text(DISK_FULL_DRIVER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLYTE_")}
    env["FLYTE_HOME"] = str(tmp_path / "home")
    result = subprocess.run(
        [sys.executable, str(script), str(db)], capture_output=True, text=True, env=env, timeout=90
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    # The run fails with the real cause in one line, not "cannot rollback".
    error = out["error"]
    assert error is not None and "\n" not in error
    assert "disk I/O error" in error or "full" in error, error
    assert "rollback" not in error + result.stderr
    assert out["next"] == 6  # the next run works once space returns
    store = SqliteRunStore(db)
    first = store.get_run("first")
    assert first is not None and first.phase is Phase.SUCCEEDED
    assert len(store.list_actions("first")) == 6  # nothing already recorded was lost
    doomed = store.get_run("doomed")
    assert doomed is not None and doomed.phase is Phase.FAILED
    assert "could not be written" in (doomed.error_message or "")
    assert all(a.phase.is_terminal for a in store.list_actions("doomed"))
    nxt = store.get_run("next")
    assert nxt is not None and nxt.phase is Phase.SUCCEEDED


def test_an_operation_that_fails_fails_its_run_and_not_the_others(
    sqlite_store: SqliteRunStore,
) -> None:
    from flyte._controller.local import get_controller

    writer = get_controller().writer_for(sqlite_store)
    now = 1.0
    writer.put(("run_insert", {"name": "ok", "task": "t", "phase": "RUNNING", "created_at": now}))
    # An action of a run that does not exist: a foreign-key failure inside the batch.
    writer.put(("action_insert", {"run": "ghost", "id": "a0", "name": "t", "phase": "RUNNING"}))
    writer.put(("action_insert", {"run": "ok", "id": "a0", "name": "t", "phase": "RUNNING"}))
    writer.put(("run_update", "ok", {"phase": "SUCCEEDED", "ended_at": 2.0}))
    writer.flush(run="ok")  # the other run is recorded in full
    with pytest.raises(StoreError, match="FOREIGN KEY"):
        writer.flush(run="ghost")
    rec = sqlite_store.get_run("ok")
    assert rec is not None and rec.phase is Phase.SUCCEEDED
    assert [a.id for a in sqlite_store.list_actions("ok")] == ["a0"]
    # The writer keeps going: later batches are written.
    writer.put(("run_insert", {"name": "later", "task": "t", "phase": "SUCCEEDED",
                               "created_at": now}))  # fmt: skip
    writer.flush()
    assert sqlite_store.get_run("later") is not None


def test_a_value_too_big_for_a_row_is_offloaded_to_blobs(
    sqlite_store: SqliteRunStore, tmp_path: Path
) -> None:
    from flyte._store import blobs

    env = flyte.TaskEnvironment("big")
    big = b"x" * (blobs.OFFLOAD_BYTES + 1)

    @env.task(cache="auto")
    def make(n: int) -> bytes:
        return big[:n] if n < len(big) else big

    run = flyte.with_runcontext(echo=False).run(make, len(big))
    assert run.outputs()[0] == big
    folder = Path(sqlite_store.path).parent / "blobs"
    files = [p for p in folder.iterdir() if not p.name.startswith(".")]
    assert files and all((p.stat().st_mode & 0o777) == 0o600 for p in files)
    conn = sqlite3.connect(sqlite_store.path)
    sizes = conn.execute(
        "SELECT max(length(outputs_blob)) FROM cache UNION ALL "
        "SELECT max(length(outputs_blob)) FROM runs"
    ).fetchall()
    conn.close()
    assert all(size < 1000 for (size,) in sizes)  # rows keep a reference, not the value
    # A cache hit and a read from another store object resolve the reference.
    again = flyte.with_runcontext(echo=False).run(make, len(big))
    assert again.outputs()[0] == big
    assert any(a.cache_status.value == "hit" for a in again.actions())
    from flyte import _serde

    blob = SqliteRunStore(sqlite_store.path).get_blob(run.name, None, "outputs")
    assert blob is not None and _serde.loads(blob) == big


def test_a_planted_reference_never_reads_outside_blobs(sqlite_store: SqliteRunStore) -> None:
    env = flyte.TaskEnvironment("ref")

    @env.task
    def one() -> int:
        return 1

    run = flyte.with_runcontext(echo=False).run(one)
    conn = sqlite3.connect(sqlite_store.path, isolation_level=None)
    conn.execute("UPDATE runs SET outputs_blob = ?", (b"FLYTEBLOB:../../../../etc/passwd",))
    conn.close()
    assert sqlite_store.get_blob(run.name, None, "outputs") is None


def test_cached_outputs_are_stored_once(store: Any) -> None:
    env = flyte.TaskEnvironment("once")

    @env.task(cache="auto")
    def payload(n: int) -> bytes:
        return b"z" * n

    run = flyte.with_runcontext(echo=False).run(payload, 50_000)
    (action,) = run.actions()
    assert action.cache_status.value == "written"
    blob = store.get_blob(run.name, action.id, "outputs")
    from flyte import _serde

    assert blob is not None and _serde.loads(blob) == b"z" * 50_000
    if isinstance(store, SqliteRunStore):
        conn = sqlite3.connect(store.path)
        stored = conn.execute(
            "SELECT (SELECT count(*) FROM actions WHERE outputs_blob IS NOT NULL), "
            "(SELECT count(*) FROM cache)"
        ).fetchone()
        conn.close()
        assert stored == (0, 1)
    # Recovery still finds the value (through the cache entry).
    assert store.successful_actions(run.name)[action.id][1] == blob


# --- a store that fails for a while: nothing queued is lost -----------------------------


def _run_row(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "task": "t", "phase": "RUNNING", "created_at": 1.0, **extra}


def test_a_write_lock_held_too_long_keeps_the_batch_until_it_is_released(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import flyte._store.sqlite as sqlite_module
    from flyte._controller.writer import Writer

    # Another process holds the write lock longer than the store waits (60 s; 50 ms here).
    monkeypatch.setattr(sqlite_module, "BUSY_TIMEOUT_MS", 50)
    store = SqliteRunStore(tmp_path / "runs.db")
    writer = Writer(store, threaded=True)
    holder = sqlite3.connect(store.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        writer.put(("run_insert", _run_row("kept")))
        with pytest.raises(StoreError, match=r"database is locked.*held the store's write lock"):
            writer.flush(timeout=30)
        assert writer.error is not None and writer.run_error("kept") is writer.error
        assert store.get_run("kept") is None
        writer.put(("run_update", "kept", {"phase": "SUCCEEDED", "ended_at": 2.0}))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    writer.flush(timeout=30)  # released: the kept batch and the later one are written
    assert writer.error is None and writer.run_error("kept") is None
    rec = store.get_run("kept")
    assert rec is not None and rec.phase is Phase.SUCCEEDED
    assert "retrying" in caplog.text and "writable again" in caplog.text


BLOB_ON_A_FULL_DISK = """
import json, resource, sys
from flyte._controller.writer import Writer
from flyte._store.blobs import OFFLOAD_BYTES
from flyte._store.sqlite import SqliteRunStore
from flyte.errors import StoreError

store = SqliteRunStore(sys.argv[1])
writer = Writer(store, threaded=True)
big = b"v" * (OFFLOAD_BYTES + 1)  # offloaded to a file under blobs/
_, HARD = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, HARD))  # no file may pass 1 MiB
writer.put(("run_insert", {"name": "big", "task": "t", "phase": "SUCCEEDED",
                           "created_at": 1.0, "outputs_blob": big}))
out = {}
try:
    writer.flush(timeout=30)
except StoreError as exc:
    out["error"] = str(exc)
resource.setrlimit(resource.RLIMIT_FSIZE, (HARD, HARD))  # space returns
writer.flush(timeout=30)
out["kept"] = store.get_blob("big", None, "outputs") == big
print(json.dumps(out))
"""


def test_a_blob_that_cannot_be_written_for_lack_of_space_is_kept_and_written_later(
    tmp_path: Path,
) -> None:
    script = tmp_path / "blob.py"
    script.write_text(BLOB_ON_A_FULL_DISK)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLYTE_")}
    env["FLYTE_HOME"] = str(tmp_path / "home")
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "runs.db")],
        capture_output=True,
        text=True,
        env=env,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert "File too large" in out["error"], out  # the kernel's EFBIG, named
    assert out["kept"] is True


UNWRITTEN_AT_EXIT = """
import sqlite3, sys
import flyte._store.sqlite as sqlite_module
from flyte._controller.writer import Writer

sqlite_module.BUSY_TIMEOUT_MS = 50
store = sqlite_module.SqliteRunStore(sys.argv[1])
writer = Writer(store, threaded=True)
holder = sqlite3.connect(store.path, isolation_level=None)
holder.execute("BEGIN IMMEDIATE")  # held until the process ends
writer.put(("run_insert", {"name": "lost", "task": "t", "phase": "RUNNING", "created_at": 1.0}))
print("exiting without a flush")
"""


def test_what_cannot_be_written_by_exit_is_reported_on_stderr(tmp_path: Path) -> None:
    script = tmp_path / "exit.py"
    script.write_text(UNWRITTEN_AT_EXIT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLYTE_")}
    env["FLYTE_HOME"] = str(tmp_path / "home")
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "runs.db")],
        capture_output=True,
        text=True,
        env=env,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr
    assert "exiting without a flush" in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("flyte: run store")]
    assert len(lines) == 1, result.stderr
    assert "database is locked" in lines[0] and "write lock too long" in lines[0]
