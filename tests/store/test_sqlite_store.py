"""SqliteRunStore: pragmas, migrations, refusing bad files, many processes, dead drivers."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import flyte
from flyte._models import Phase
from flyte._store import open_store
from flyte._store.migrations import MIGRATIONS
from flyte._store.sqlite import SqliteRunStore
from flyte.errors import StoreError

HOST = socket.gethostname()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def child_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLYTE_")}
    env["FLYTE_HOME"] = str(tmp_path / "child-home")
    return env


def run_row(name: str, **extra: Any) -> dict[str, Any]:
    now = time.time()
    return {"name": name, "task": "env.main", "phase": "RUNNING", "created_at": now,
            "started_at": now, "pid": os.getpid(), "host": HOST, "heartbeat": now, **extra}  # fmt: skip


# --- pragmas and migrations ----------------------------------------------------------


def test_wal_and_pragmas(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    store = SqliteRunStore(db)
    conn = store._conn()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    # WAL is persistent: a plain connection to the file sees it too.
    with sqlite3.connect(db) as plain:
        assert plain.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_none_and_bytes_bind_through_identity_adapters(tmp_path: Path) -> None:
    """sqlite3 adapts every None and bytes parameter; without an adapter registered for
    them it raises and clears an AttributeError for each one (about ten per action row).
    Identity adapters keep the values as they are, and an adapter the user registered
    first is kept."""
    script = """
import sqlite3

class Mine(bytes):
    pass

def user_adapter(value):
    return "user"

sqlite3.register_adapter(bytes, user_adapter)
import flyte._store.sqlite  # registers its adapters

adapters = sqlite3.adapters
assert adapters[(bytes, sqlite3.PrepareProtocol)] is user_adapter, "user adapter replaced"
none = adapters[(type(None), sqlite3.PrepareProtocol)]
assert none(None) is None
del adapters[(bytes, sqlite3.PrepareProtocol)]
import importlib
importlib.reload(flyte._store.sqlite)
same = adapters[(bytes, sqlite3.PrepareProtocol)]
value = b"exact"
assert same(value) is value
conn = sqlite3.connect(":memory:")
conn.execute("CREATE TABLE t (a, b)")
conn.execute("INSERT INTO t VALUES (?, ?)", (None, value))
assert conn.execute("SELECT a, b, typeof(a), typeof(b) FROM t").fetchone() == (
    None, value, "null", "blob"
)
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=child_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_migrations_are_named_and_recorded_once(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    SqliteRunStore(db).write([("run_insert", run_row("keep-me"))])
    SqliteRunStore(db)  # reopening applies nothing twice and keeps data
    with sqlite3.connect(db) as plain:
        rows = plain.execute("SELECT name, applied_at FROM _migrations ORDER BY name").fetchall()
        tables = {r[0] for r in plain.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert [r[0] for r in rows] == [name for name, _ in MIGRATIONS]
    assert all(isinstance(r[1], float) and r[1] > 0 for r in rows)
    assert {"runs", "actions", "attempts", "logs", "cache", "deployed_tasks", "changes"} <= tables
    assert SqliteRunStore(db).get_run("keep-me") is not None


def test_data_survives_reopening(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    a = SqliteRunStore(db)
    a.write([("run_insert", run_row("r1"))])
    a.close()
    assert SqliteRunStore(db).get_run("r1").name == "r1"  # type: ignore[union-attr]


def test_store_file_is_created_under_flyte_home(tmp_path: Path, _isolated_home: Path) -> None:
    env = flyte.TaskEnvironment("home_test")

    @env.task
    def one() -> int:
        return 1

    run = flyte.run(one)
    db = _isolated_home / "runs.db"
    assert db.exists()
    assert SqliteRunStore(db).get_run(run.name) is not None


def test_tracer_sees_the_statements(tmp_path: Path) -> None:
    statements: list[str] = []
    store = SqliteRunStore(tmp_path / "runs.db", tracer=statements.append)
    store.write([("run_insert", run_row("traced"))])
    assert any("INSERT INTO runs" in s for s in statements)


def test_a_fan_out_is_written_in_few_transactions(tmp_path: Path) -> None:
    import asyncio

    statements: list[str] = []
    store = SqliteRunStore(tmp_path / "runs.db", tracer=statements.append)
    flyte.init(store=store)
    env = flyte.TaskEnvironment("batched")

    @env.task
    async def leaf(i: int) -> int:
        return i

    @env.task
    async def fan(n: int) -> int:
        return sum(await asyncio.gather(*(leaf(i) for i in range(n))))

    before = len(statements)
    run = flyte.run(fan, 200)
    assert run.outputs()[0] == sum(range(200))
    commits = sum(1 for s in statements[before:] if s.strip().upper() == "COMMIT")
    assert len(store.list_actions(run.name)) == 201
    assert commits < 50, f"{commits} commits for 201 actions: writes are not batched"


def _action(run: str, aid: str, settings: Any) -> dict[str, Any]:
    return {"run": run, "id": aid, "parent": None, "name": "env.t", "kind": "task",
            "phase": "SUCCEEDED", "inputs_json": "{}", "started_at": 1.0, "ended_at": 2.0,
            "attempts": 1, "settings": settings, "seq": 0}  # fmt: skip


def test_updates_in_one_batch_apply_in_batch_order(tmp_path: Path) -> None:
    """Consecutive updates of the same columns are written together; every other op
    (an update of other columns, an insert, an abort) keeps its place in the batch."""
    store = SqliteRunStore(tmp_path / "runs.db")
    store.write([("run_insert", run_row("r1"))])
    running = {**_action("r1", "x", {}), "phase": "RUNNING", "ended_at": None}

    def end(phase: str, when: float) -> dict[str, Any]:
        return {"phase": phase, "outputs_json": f'"{phase}"', "ended_at": when}

    store.write(
        [
            ("action_insert", {**running, "id": "a"}),
            ("action_insert", {**running, "id": "b"}),
            ("action_update", "r1", "a", end("FAILED", 3.0)),
            ("action_update", "r1", "b", end("SUCCEEDED", 3.0)),
            ("action_update", "r1", "a", {"phase": "RUNNING", "attempts": 2}),
            ("action_update", "r1", "a", end("SUCCEEDED", 4.0)),
            ("action_update", "r1", "b", end("FAILED", 4.0)),
            # an insert after an update of its row (an upsert) applies after it
            ("action_insert", {**running, "id": "b", "attempts": 5}),
            ("action_insert", {**running, "id": "c"}),
            ("action_update", "r1", "c", end("TIMED_OUT", 5.0)),
            ("action_update", "r1", "c", {"phase": "RUNNING", "attempts": 2}),
            # an abort after an update that marks its row running ends that row
            ("abort_actions", "r1", 6.0),
        ]
    )
    rows = {a.id: a for a in store.list_actions("r1")}
    assert (rows["a"].phase.value, rows["a"].attempts, rows["a"].ended_at) == (
        "SUCCEEDED",
        2,
        4.0,
    )
    assert (rows["b"].phase.value, rows["b"].attempts) == ("ABORTED", 5)
    assert (rows["c"].phase.value, rows["c"].attempts) == ("ABORTED", 2)


def test_ending_a_run_reads_only_its_active_actions(tmp_path: Path) -> None:
    """A run's end marks its actions still active as ABORTED in the same transaction;
    that statement reads them from the partial index of active actions, not every action
    of the run (it scanned 100,000 rows at the end of a 100,000-task fan-out)."""
    from flyte._store.sqlite import _END_ACTIVE

    store = SqliteRunStore(tmp_path / "runs.db")
    store.write([("run_insert", run_row("r1"))])
    ended = {**_action("r1", "x", {}), "phase": "SUCCEEDED"}
    active = {**_action("r1", "x", {}), "phase": "RUNNING", "ended_at": None}
    store.write(
        [("action_insert", {**ended, "id": f"done{i}"}) for i in range(200)]
        + [("action_insert", {**active, "id": "left"})]
    )
    conn = store._conn()
    plan = " ".join(
        row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + _END_ACTIVE, ("ABORTED", 1.0, "r1"))
    )
    assert "actions_active" in plan, plan
    indexed = conn.execute(
        "SELECT count(*) FROM actions INDEXED BY actions_active "
        "WHERE run = 'r1' AND phase IN ('QUEUED', 'RUNNING')"
    ).fetchone()[0]
    assert indexed == 1
    store.write([("run_update", "r1", {"phase": "SUCCEEDED", "ended_at": 9.0})])
    phases = {a.id: a.phase.value for a in store.list_actions("r1")}
    assert phases["left"] == "ABORTED" and phases["done7"] == "SUCCEEDED"


def test_a_task_s_settings_are_stored_once_and_read_back_everywhere(tmp_path: Path) -> None:
    """Action rows refer to their task's settings, kept once per store; every reader
    (the store's reads, the live changes the TUI reads, the public view) sees the JSON."""
    from flyte.store import changed_actions

    store = SqliteRunStore(tmp_path / "runs.db")
    one = {"env": "e", "retries": 0, "cache": {"behavior": "auto"}, "env_vars": {"A": "1"}}
    two = {"env": "e", "retries": 3}
    store.write([("run_insert", run_row("r1"))])
    store.write([("action_insert", _action("r1", f"a{i}", one)) for i in range(50)])
    store.write([("action_insert", _action("r1", "b", two))])
    # Rows written before the settings were shared keep their JSON and read the same.
    store._conn().execute(
        "INSERT INTO actions (run, id, name, kind, phase, settings) "
        "VALUES ('r1', 'old', 'env.t', 'task', 'SUCCEEDED', ?)",
        (json.dumps(two),),
    )
    raw = sqlite3.connect(tmp_path / "runs.db")
    assert raw.execute("SELECT count(*) FROM shared_settings").fetchone()[0] == 2
    stored = {r[0] for r in raw.execute("SELECT settings FROM actions WHERE id != 'old'")}
    assert all(len(text) < 8 for text in stored), stored  # references, not 50 copies
    expected = {**{f"a{i}": one for i in range(50)}, "b": two, "old": two}
    assert {a.id: a.settings for a in store.list_actions("r1")} == expected
    assert store.get_action("r1", "a7").settings == one  # type: ignore[union-attr]
    paged = [a for page in store.iter_actions("r1", page=7) for a in page]
    assert {a.id: a.settings for a in paged} == expected
    changed = changed_actions(store, "r1", after=0, live={})
    assert changed is not None
    assert {a.id: a.settings for a in changed[0]} == expected
    view = raw.execute("SELECT id, settings FROM actions_v1 WHERE run = 'r1'").fetchall()
    assert {aid: json.loads(text) for aid, text in view} == expected


def test_settings_first_seen_in_a_failed_batch_are_added_again(tmp_path: Path) -> None:
    """A batch that fails after adding new settings rolls the row back: the writer must
    not keep referring to it (every later action would read without settings)."""
    store = SqliteRunStore(tmp_path / "runs.db")
    settings = {"env": "fresh", "retries": 1}
    with pytest.raises(StoreError):  # the run does not exist: a foreign-key failure
        store.write([("action_insert", _action("missing", "a", settings))])
    store.write([("run_insert", run_row("r1")), ("action_insert", _action("r1", "a", settings))])
    assert store.get_action("r1", "a").settings == settings  # type: ignore[union-attr]
    other = SqliteRunStore(tmp_path / "runs.db")  # another writer shares the row
    other.write([("action_insert", _action("r1", "b", settings))])
    raw = sqlite3.connect(tmp_path / "runs.db")
    assert raw.execute("SELECT count(*) FROM shared_settings").fetchone()[0] == 1
    assert other.get_action("r1", "b").settings == settings  # type: ignore[union-attr]


# --- files that must be refused and left alone ---------------------------------------


def _random_bytes(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


@pytest.mark.parametrize(
    "content",
    [
        _random_bytes(16384, 1),
        _random_bytes(700, 2),
        b"SQLite format 3\x00" + _random_bytes(8176, 3),
        b"# a text file, not a database\n" * 40,
    ],
    ids=["random-16k", "random-700", "sqlite-header-then-garbage", "text"],
)
def test_corrupt_file_gives_store_error_and_is_not_touched(tmp_path: Path, content: bytes) -> None:
    db = tmp_path / "runs.db"
    db.write_bytes(content)
    before = digest(db)
    with pytest.raises(StoreError) as info:
        SqliteRunStore(db)
    message = str(info.value)
    assert str(db) in message
    assert "corrupt" in message
    assert "\n" not in message.strip(), "a one-line message"
    with pytest.raises(StoreError):
        open_store(db)
    with pytest.raises(StoreError):
        flyte.init(store=str(db))
    assert digest(db) == before
    assert db.read_bytes() == content


def test_store_from_a_newer_version_is_refused_and_not_touched(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    store = SqliteRunStore(db)
    store.write([("run_insert", run_row("precious"))])
    store.close()
    with sqlite3.connect(db) as plain:
        plain.execute(
            "INSERT INTO _migrations (name, applied_at) VALUES ('9999_from_the_future', 1.0)"
        )
    plain.close()
    assert not Path(f"{db}-wal").exists() or Path(f"{db}-wal").stat().st_size == 0
    before = digest(db)
    with pytest.raises(StoreError) as info:
        SqliteRunStore(db)
    message = str(info.value)
    assert "newer" in message
    assert "9999_from_the_future" in message
    assert str(db) in message
    assert digest(db) == before
    with sqlite3.connect(db) as plain:
        assert plain.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
        names = [r[0] for r in plain.execute("SELECT name FROM _migrations ORDER BY name")]
    plain.close()
    assert names == [*(n for n, _ in MIGRATIONS), "9999_from_the_future"]


# --- several processes on one file ---------------------------------------------------

_WRITER = """
import os, socket, sys, time
path, wid, n, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
open(f"{go}.ready{wid}", "w").close()
while not os.path.exists(go):
    time.sleep(0.002)
from flyte._store.sqlite import SqliteRunStore
store = SqliteRunStore(path)  # several processes migrate a fresh file at once
host = socket.gethostname()
for i in range(n):
    name = f"w{wid}-{i}"
    now = time.time()
    store.write([
        ("run_insert", {"name": name, "task": "env.main", "phase": "RUNNING", "created_at": now,
                        "started_at": now, "pid": os.getpid(), "host": host, "heartbeat": now}),
        ("action_insert", {"run": name, "id": "a0", "parent": None, "name": "env.main",
                           "kind": "task", "phase": "RUNNING", "started_at": now, "seq": 0}),
        ("log", {"run": name, "action": "a0", "attempt": 1, "ts": now, "stream": "stdout",
                 "line": f"line {i}"}),
    ])
    store.write([
        ("run_update", name, {"phase": "SUCCEEDED", "ended_at": time.time()}),
        ("action_update", name, "a0", {"phase": "SUCCEEDED", "ended_at": time.time()}),
    ])
print("done", wid)
"""


def _all_at_the_barrier(go: Path, procs: list[subprocess.Popen[str]]) -> None:
    """Wait until every process has imported and waits for `go` (each leaves a file)."""
    deadline = time.monotonic() + 60
    while not all(Path(f"{go}.ready{w}").exists() for w in range(len(procs))):
        assert time.monotonic() < deadline, "the processes did not reach the barrier"
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        time.sleep(0.01)


@pytest.fixture
def reader_thread(tmp_path: Path) -> Iterator[tuple[Path, list[BaseException], threading.Event]]:
    """Polls the store like the TUI does while writers run; collects any error."""
    db = tmp_path / "shared.db"
    errors: list[BaseException] = []
    stop = threading.Event()

    def poll() -> None:
        store: SqliteRunStore | None = None
        while not stop.is_set():
            try:
                if store is None:
                    if not db.exists():
                        time.sleep(0.01)
                        continue
                    store = SqliteRunStore(db)
                store.change_counter()
                for rec in store.list_runs(limit=20):
                    store.list_actions(rec.name)
                    store.logs(rec.name, limit=5)
            except BaseException as exc:
                errors.append(exc)
                return
            time.sleep(0.005)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    yield db, errors, stop
    stop.set()
    thread.join(timeout=10)


def test_four_processes_write_one_file_at_once(
    tmp_path: Path, reader_thread: tuple[Path, list[BaseException], threading.Event]
) -> None:
    db, reader_errors, stop = reader_thread
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    go = tmp_path / "go"
    n = 200
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(db), str(w), str(n), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(tmp_path),
        )
        for w in range(4)
    ]
    _all_at_the_barrier(go, procs)
    go.touch()
    outputs = [p.communicate(timeout=60) for p in procs]
    stop.set()
    for p, (out, err) in zip(procs, outputs, strict=True):
        assert "locked" not in err, err
        assert p.returncode == 0, err
        assert out.startswith("done")
    assert reader_errors == []
    store = SqliteRunStore(db)
    runs = store.list_runs(limit=None)
    assert len(runs) == 4 * n
    assert {r.name for r in runs} == {f"w{w}-{i}" for w in range(4) for i in range(n)}
    assert all(r.phase is Phase.SUCCEEDED for r in runs)
    assert all(r.action_count == 1 for r in runs)
    with sqlite3.connect(db) as plain:
        assert (
            plain.execute("SELECT count(*) FROM actions WHERE phase='SUCCEEDED'").fetchone()[0]
            == 4 * n
        )
        assert plain.execute("SELECT count(*) FROM logs").fetchone()[0] == 4 * n
        assert plain.execute("SELECT count(*) FROM _migrations").fetchone()[0] == len(MIGRATIONS)
    plain.close()
    assert store.change_counter() == 4 * n * 2, "every committed batch bumps the counter once"


_ENGINE_WORKER = """
import asyncio, os, sys, time
path, wid, runs, width, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
import flyte
open(f"{go}.ready{wid}", "w").close()
while not os.path.exists(go):
    time.sleep(0.002)
flyte.init(store=path)
env = flyte.TaskEnvironment(f"worker{wid}")

@env.task
async def leaf(i: int) -> int:
    print(f"leaf {i}")
    return i

@env.task
async def fan(n: int) -> int:
    return sum(await asyncio.gather(*(leaf(i) for i in range(n))))

for k in range(runs):
    run = flyte.with_runcontext(name=f"engine-{wid}-{k}", echo=False).run(fan, width)
    assert run.outputs()[0] == sum(range(width))
print("done", wid)
"""


def test_four_engine_processes_share_one_store(
    tmp_path: Path, reader_thread: tuple[Path, list[BaseException], threading.Event]
) -> None:
    db, reader_errors, stop = reader_thread
    SqliteRunStore(db)
    script = tmp_path / "engine_worker.py"
    script.write_text(_ENGINE_WORKER)
    go = tmp_path / "go"
    runs, width = 4, 49  # 4 runs x 50 actions = 200 actions per process
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(db), str(w), str(runs), str(width), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(tmp_path),
        )
        for w in range(4)
    ]
    _all_at_the_barrier(go, procs)
    go.touch()
    outputs = [p.communicate(timeout=60) for p in procs]
    stop.set()
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert "locked" not in err, err
        assert p.returncode == 0, err
    assert reader_errors == []
    store = SqliteRunStore(db)
    records = store.list_runs(limit=None)
    assert len(records) == 4 * runs
    for rec in records:
        assert rec.phase is Phase.SUCCEEDED, rec
        assert rec.action_count == width + 1
        assert len(store.logs(rec.name)) == width


# --- a driver that died, or was asked to stop ----------------------------------------

_DRIVER = """
import asyncio, sys, time
import flyte
flyte.init(store=sys.argv[1])
env = flyte.TaskEnvironment("victim")

@env.task
async def sleeper(i: int) -> None:
    await asyncio.sleep(60)

@env.task
async def main() -> None:
    await asyncio.gather(sleeper(1), sleeper(2))

flyte.with_runcontext(name=sys.argv[2], echo=False).run(main)
"""


def _start_driver(tmp_path: Path, db: Path, name: str) -> subprocess.Popen[str]:
    script = tmp_path / "driver.py"
    script.write_text(_DRIVER)
    SqliteRunStore(db)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(db), name],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(tmp_path),
    )
    store = SqliteRunStore(db)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(store.list_actions(name)) == 3:
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("the driver never recorded its actions")
    rec = store.get_run(name)
    assert rec is not None and rec.phase is Phase.RUNNING, "a live driver's run is not reaped"
    return proc


def test_run_whose_driver_was_killed_reads_as_aborted_interrupted(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    proc = _start_driver(tmp_path, db, "doomed-run")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    proc.communicate()
    store = SqliteRunStore(db)
    rec = store.get_run("doomed-run")
    assert rec is not None
    assert rec.phase is Phase.ABORTED
    assert rec.interrupted is True
    assert rec.ended_at is not None
    assert all(a.phase is Phase.ABORTED for a in store.list_actions("doomed-run"))
    # The verdict was written: every reader, in any process, now sees it.
    with sqlite3.connect(db) as plain:
        row = plain.execute(
            "SELECT phase, interrupted FROM runs WHERE name='doomed-run'"
        ).fetchone()
    plain.close()
    assert row == ("ABORTED", 1)
    assert [r.name for r in store.list_runs(phase="ABORTED")] == ["doomed-run"]


def test_killed_driver_not_yet_reaped_reads_as_aborted(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    proc = _start_driver(tmp_path, db, "zombie-run")
    try:
        proc.send_signal(signal.SIGKILL)
        store = SqliteRunStore(db)
        deadline = time.monotonic() + 30
        phase = None
        while time.monotonic() < deadline:
            rec = store.list_runs()[0]  # read through list_runs this time
            phase = rec.phase
            if phase is Phase.ABORTED:
                assert rec.interrupted is True
                break
            time.sleep(0.05)
        assert phase is Phase.ABORTED
    finally:
        proc.wait(timeout=10)
        proc.communicate()


def test_request_abort_from_another_process_stops_the_driver(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    proc = _start_driver(tmp_path, db, "stop-me")
    try:
        assert SqliteRunStore(db).request_abort("stop-me") is True
        # Its tasks sleep for 60 s: a driver that ends well before noticed the abort.
        proc.wait(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _, err = proc.communicate()
    assert proc.returncode != 0
    assert "RunAbortedError" in err
    rec = SqliteRunStore(db).get_run("stop-me")
    assert rec is not None
    assert rec.phase is Phase.ABORTED
    assert rec.interrupted is False


def test_stale_heartbeat_on_another_host_reads_as_aborted(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "runs.db")
    now = time.time()
    store.write(
        [
            ("run_insert", run_row("stale", host="elsewhere", pid=1, heartbeat=now - 3600)),
            ("run_insert", run_row("fresh", host="elsewhere", pid=1, heartbeat=now)),
            ("run_insert", run_row("mine")),  # this live process drives it
        ]
    )
    assert store.get_run("stale").phase is Phase.ABORTED  # type: ignore[union-attr]
    assert store.get_run("stale").interrupted is True  # type: ignore[union-attr]
    assert store.get_run("fresh").phase is Phase.RUNNING  # type: ignore[union-attr]
    assert store.get_run("mine").phase is Phase.RUNNING  # type: ignore[union-attr]


def test_dead_local_pid_reads_as_aborted(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    store = SqliteRunStore(tmp_path / "runs.db")
    store.write([("run_insert", run_row("orphan", pid=proc.pid))])
    rec = store.get_run("orphan")
    assert rec is not None
    assert (rec.phase, rec.interrupted) == (Phase.ABORTED, True)


def test_a_foreign_sqlite_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    import sqlite3

    from flyte._store.sqlite import SqliteRunStore
    from flyte.errors import StoreError

    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not a flyte run store"):
        SqliteRunStore(path)
    assert path.read_bytes() == before
