"""Reads never write, liveness is judged right, recovery runs once, state changes are atomic.

Issue 13, items 3 to 6. Faults run in subprocesses with deadlines; barriers are files
polled with a deadline, never fixed sleeps.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import flyte
from flyte._models import Phase
from flyte._store.sqlite import SqliteRunStore

HOST = socket.gethostname()
REPO = Path(__file__).resolve().parents[2]


def wait_for(condition: Callable[[], object], timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.02)


def cli(
    home: Path, *args: str, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLYTE_")}
    env.update(FLYTE_HOME=str(home), NO_COLOR="1", COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "flyte_cli", *args],
        cwd=cwd or REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def seed_dead_run(home: Path, name: str = "dead-run") -> Path:
    """A store whose run was RUNNING when its driver died, with two RUNNING actions."""
    store = SqliteRunStore(home / "runs.db")
    now = time.time()
    pid = dead_pid()
    store.write(
        [
            (
                "run_insert",
                {
                    "name": name,
                    "task": "env.main",
                    "phase": "RUNNING",
                    "created_at": now,
                    "started_at": now,
                    "pid": pid,
                    "host": HOST,
                    "heartbeat": now,
                },
            ),
            (
                "action_insert",
                {
                    "run": name,
                    "id": "a0",
                    "name": "env.main",
                    "phase": "RUNNING",
                    "started_at": now,
                },
            ),
            (
                "action_insert",
                {
                    "run": name,
                    "id": "abc",
                    "parent": "a0",
                    "name": "env.leaf",
                    "phase": "RUNNING",
                    "started_at": now,
                },
            ),
            (
                "log",
                {
                    "run": name,
                    "action": "a0",
                    "attempt": 1,
                    "ts": now,
                    "stream": "stdout",
                    "line": "hello from a dead run",
                },
            ),
        ]
    )
    store.close()
    return home / "runs.db"


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """Make `folder` read-only for this process: a read-only bind mount as root, else chmod."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [folder, *folder.iterdir()]}
        for p in modes:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    ok = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True)
    if ok.returncode != 0:
        pytest.skip("cannot bind-mount here (no CAP_SYS_ADMIN) and root ignores chmod")
    try:
        remount = subprocess.run(
            ["mount", "-o", "remount,bind,ro", str(folder)], capture_output=True
        )
        if remount.returncode != 0:
            pytest.skip("cannot remount read-only here")
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


# --- item 3: reads never write ----------------------------------------------------------


def test_flyte_home_pointing_at_a_file_is_one_line_exit_2(tmp_path: Path) -> None:
    home = tmp_path / "not-a-folder"
    home.write_text("oops")
    for args in (("get", "runs"), ("run", "examples/hello.py", "main", "--name", "x")):
        result = cli(home, *args)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert "FLYTE_HOME" in lines[0] and "not a folder" in lines[0], lines[0]


def test_a_read_only_store_is_read_without_writing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    db = seed_dead_run(home)
    before = {p.name: p.read_bytes() for p in home.iterdir()}
    with read_only(home):
        runs = cli(home, "get", "runs", "--json")
        assert runs.returncode == 0, runs.stderr
        assert '"phase": "ABORTED"' in runs.stdout
        assert "read-only" in runs.stderr and "corrupt" not in runs.stderr
        actions = cli(home, "get", "actions", "dead-run", "--json")
        assert actions.returncode == 0, actions.stderr
        assert '"RUNNING"' not in actions.stdout
        logs = cli(home, "logs", "dead-run")
        assert logs.returncode == 0, logs.stderr
        assert "hello from a dead run" in logs.stdout
        # Writing is refused in one line that says what is wrong (not "corrupt").
        run = cli(home, "run", "examples/hello.py", "main", "--name", "x")
        assert run.returncode == 2, run.stderr
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr
        assert "read-only" in run.stderr and "corrupt" not in run.stderr
    after = {p.name: p.read_bytes() for p in home.iterdir()}
    assert after == before
    # Once writable again, the verdict is recorded by the next reader.
    rec = SqliteRunStore(db).get_run("dead-run")
    assert rec is not None and (rec.phase, rec.interrupted) == (Phase.ABORTED, True)


def test_a_read_only_store_without_the_newest_index_is_still_read(tmp_path: Path) -> None:
    """A store last written by the version before `0010_active_actions` (an index, which
    no reader needs) is read where it cannot be migrated, not refused as too old."""
    home = tmp_path / "home"
    db = seed_dead_run(home)
    raw = sqlite3.connect(db)
    raw.execute("DROP INDEX actions_active")
    raw.execute("DELETE FROM _migrations WHERE name = '0010_active_actions'")
    raw.commit()
    raw.close()
    with read_only(home):
        runs = cli(home, "get", "runs", "--json")
        assert runs.returncode == 0, runs.stderr
        assert '"dead-run"' in runs.stdout


def test_readers_of_a_dead_run_see_it_interrupted_even_if_the_write_fails(
    tmp_path: Path,
) -> None:
    db = seed_dead_run(tmp_path / "home")
    # A reader whose store cannot be written (a file-size limit of 0: nothing may grow).
    script = textwrap.dedent(
        f"""
        import resource, sys
        from flyte._store.sqlite import SqliteRunStore
        store = SqliteRunStore({str(db)!r})
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))
        rec = store.get_run("dead-run")
        assert (rec.phase.value, rec.interrupted) == ("ABORTED", True), rec
        assert [a.phase.value for a in store.list_actions("dead-run")] == ["ABORTED"] * 2
        assert [l.line for l in store.logs("dead-run")] == ["hello from a dead run"]
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


# --- item 4: liveness -------------------------------------------------------------------


def test_a_live_driver_with_a_stale_heartbeat_is_alive_and_beats_while_its_loop_blocks(
    sqlite_store: SqliteRunStore, tmp_path: Path
) -> None:
    env = flyte.TaskEnvironment("live")
    release = threading.Event()

    @env.task
    async def hog() -> int:
        release.wait(30)  # blocks the event loop, as a careless async task does
        return 1

    run = flyte.with_runcontext(echo=False, wait=False).start(hog)
    try:
        conn = sqlite3.connect(sqlite_store.path, isolation_level=None)
        wait_for(
            lambda: conn.execute(
                "SELECT count(*) FROM actions WHERE run = ? AND phase = 'RUNNING'", (run.name,)
            ).fetchone()[0],
            what="the action to start",
        )
        # The heartbeat keeps beating although the loop is blocked.
        conn.execute("UPDATE runs SET heartbeat = 1000 WHERE name = ?", (run.name,))
        wait_for(
            lambda: (
                conn.execute("SELECT heartbeat FROM runs WHERE name = ?", (run.name,)).fetchone()[0]
                > 1000
            ),
            what="a heartbeat while the loop is blocked",
        )
        # A reader in another process that sees a stale heartbeat still trusts the process.
        conn.execute("UPDATE runs SET heartbeat = 1000 WHERE name = ?", (run.name,))
        probe = subprocess.run(
            [sys.executable, "-c",
             "import sys; from flyte._store.sqlite import SqliteRunStore;"
             f"print(SqliteRunStore({sqlite_store.path!r}).get_run({run.name!r}).phase.value)"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert probe.stdout.strip() == "RUNNING", probe.stderr
        # Deleting a run whose driver is alive is refused.
        deleted = cli(Path(os.environ["FLYTE_HOME"]), "--store", sqlite_store.path, "delete",
                      "run", run.name)  # fmt: skip
        assert deleted.returncode == 2, deleted.stderr
        assert "still" in deleted.stderr
        with pytest.raises(flyte.errors.UserError, match="still"):
            sqlite_store.delete_run(run.name)
    finally:
        release.set()
    run.wait(timeout=30)
    assert run.phase is Phase.SUCCEEDED
    conn.close()


def test_a_reused_pid_is_not_a_live_driver(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "runs.db")
    now = time.time()
    store.write(
        [
            (
                "run_insert",
                {
                    "name": "reused",
                    "task": "env.main",
                    "phase": "RUNNING",
                    "created_at": now,
                    "pid": os.getpid(),
                    "host": HOST,
                    "heartbeat": now,
                    "pid_start": "another-boot:12345",
                },
            ),
        ]
    )
    rec = store.get_run("reused")
    assert rec is not None and (rec.phase, rec.interrupted) == (Phase.ABORTED, True)


# --- item 5: recovery runs once ---------------------------------------------------------

RECOVER_PROJECT = """
import os, time
import flyte

env = flyte.TaskEnvironment("rec")
GATE = @GATE@
COUNT = @COUNT@


@env.task
def step(i: int) -> int:
    with open(COUNT, "a") as f:
        f.write(f"{i}\\n")
    if i == 2:
        if not os.path.exists(GATE + ".started"):
            raise ValueError("first attempt fails")
        open(GATE + ".inside", "w").close()
        deadline = time.monotonic() + 60
        while not os.path.exists(GATE) and time.monotonic() < deadline:
            time.sleep(0.02)
    return i


@env.task
def main() -> int:
    return step(1) + step(2)
"""


def test_two_concurrent_recoveries_of_one_run_execute_nothing_twice(tmp_path: Path) -> None:
    home = tmp_path / "home"
    project = tmp_path / "project"
    project.mkdir()
    gate, count = tmp_path / "gate", tmp_path / "count"
    source = RECOVER_PROJECT.replace("@GATE@", repr(str(gate))).replace("@COUNT@", repr(str(count)))
    (project / "work.py").write_text(source)
    first = cli(home, "run", "--json", "--name", "src", "work.py", "main", cwd=project)
    assert first.returncode == 1, first.stderr
    (tmp_path / "gate.started").touch()
    count.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLYTE_")}
    env.update(FLYTE_HOME=str(home), NO_COLOR="1")
    one = subprocess.Popen(
        [sys.executable, "-m", "flyte_cli", "rerun", "src", "--recover", "--name", "rec-1"],
        cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for(lambda: (tmp_path / "gate.inside").exists(), what="the first recovery")
        two = cli(home, "rerun", "src", "--recover", "--name", "rec-2", cwd=project)
        assert two.returncode == 2, two.stderr
        assert "rec-1" in two.stderr and "recover" in two.stderr
        # Recovering a run that is still running is refused too.
        three = cli(home, "rerun", "rec-1", "--recover", cwd=project)
        assert three.returncode == 2, three.stderr
        assert "still" in three.stderr
    finally:
        gate.touch()
        _out, err = one.communicate(timeout=60)
    assert one.returncode == 0, err
    assert count.read_text().split() == ["2"]  # step(1) recovered; step(2) ran once


# --- item 6: atomic state changes -------------------------------------------------------


def test_marking_a_dead_run_aborted_is_one_transaction(tmp_path: Path) -> None:
    db = seed_dead_run(tmp_path / "home")
    statements: list[str] = []
    store = SqliteRunStore(db, tracer=statements.append)
    statements.clear()
    store.get_run("dead-run")
    begins = [s for s in statements if s.startswith("BEGIN")]
    assert len(begins) == 1, statements
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT phase FROM actions").fetchall() == [("ABORTED",), ("ABORTED",)]
    conn.close()


def test_a_finished_run_never_keeps_running_actions(store: Any) -> None:
    env = flyte.TaskEnvironment("deep")

    @env.task
    async def rec(n: int) -> int:
        return 0 if n == 0 else await rec(n - 1) + 1

    run = flyte.with_runcontext(echo=False, raise_on_failure=False).run(rec, 400)
    assert run.phase is Phase.FAILED
    phases = {a.phase for a in run.actions()}
    assert Phase.RUNNING not in phases and Phase.QUEUED not in phases, phases


# --- item 9: counts kept on the run row --------------------------------------------------


def test_run_action_counts_are_kept_on_the_row_and_stay_exact(tmp_path: Path) -> None:
    statements: list[str] = []
    store = SqliteRunStore(tmp_path / "runs.db", tracer=statements.append)
    now = time.time()
    action = {"run": "r", "name": "t", "phase": "RUNNING", "started_at": now}
    store.write(
        [
            ("run_insert", {"name": "r", "task": "t", "phase": "RUNNING", "created_at": now}),
            *(("action_insert", {**action, "id": f"a{i}"}) for i in range(5)),
            ("action_insert", {**action, "id": "h", "cache_status": "hit"}),
        ]
    )
    # A trace recorded again in a later attempt replaces its row: still one action.
    store.write([("action_insert", {**action, "id": "a1", "phase": "SUCCEEDED"})])
    store.write([("action_update", "r", "a2", {"cache_status": "hit"})])
    statements.clear()
    (rec,) = store.list_runs()
    assert (rec.action_count, rec.cache_hits) == (6, 2)
    assert not any("FROM actions" in s for s in statements), statements
    store.write([("action_update", "r", "h", {"cache_status": "miss"})])
    rec2 = store.get_run("r")
    assert rec2 is not None and (rec2.action_count, rec2.cache_hits) == (6, 1)


def test_counts_added_per_batch_count_each_new_row_once(tmp_path: Path) -> None:
    # The writer counts a batch's new rows itself (the per-row insert trigger cost a fifth
    # of a fan-out's SQLite time): a row updated later in the same batch, rows of two
    # runs in one batch, and a row recorded again must each count exactly once.
    store = SqliteRunStore(tmp_path / "runs.db")
    now = time.time()

    def action(run: str, id_: str, **extra: Any) -> tuple[str, dict[str, Any]]:
        row = {"run": run, "id": id_, "name": "t", "phase": "RUNNING", "started_at": now}
        return ("action_insert", {**row, **extra})

    store.write(
        [
            ("run_insert", {"name": "r", "task": "t", "phase": "RUNNING", "created_at": now}),
            ("run_insert", {"name": "s", "task": "t", "phase": "RUNNING", "created_at": now}),
            action("r", "a"),
            action("s", "b", cache_status="hit"),
            ("action_update", "r", "a", {"cache_status": "hit"}),  # after its insert
            action("r", "c"),
            action("s", "a"),  # one id in two runs: two actions
        ]
    )
    store.write([action("r", "a", phase="SUCCEEDED", cache_status="hit"), action("r", "d")])
    triggers = {r[0] for r in store._query("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert "actions_counted" not in triggers  # no statement per inserted row
    counts = {r.name: (r.action_count, r.cache_hits) for r in store.list_runs()}
    assert counts == {"r": (3, 1), "s": (2, 1)}


def test_counting_a_batch_reads_only_its_new_rows(tmp_path: Path) -> None:
    # Grouping by run let SQLite walk the whole (run, id) index instead of the new rows'
    # rowid range: every write of a store of 1M actions read all of them (found by the gc
    # benchmark, where a concurrent writer then held the lock for seconds).
    from flyte._store.sqlite import _NEW_ACTION_COUNTS

    store = SqliteRunStore(tmp_path / "runs.db")
    plan = " ".join(
        str(row[3]) for row in store._query(f"EXPLAIN QUERY PLAN {_NEW_ACTION_COUNTS}", (0,))
    )
    assert "USING INTEGER PRIMARY KEY (rowid>?)" in plan and "SCAN actions" not in plan, plan


def test_an_existing_store_gets_its_counts_backfilled(tmp_path: Path) -> None:
    from flyte._store.migrations import MIGRATIONS

    db = tmp_path / "runs.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
    for statement in MIGRATIONS[0][1].split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("INSERT INTO _migrations VALUES ('0001_initial', 0)")
    conn.execute(
        "INSERT INTO runs (name, task, phase, created_at) VALUES ('old', 't', 'SUCCEEDED', 1)"
    )
    for i in range(3):
        conn.execute(
            "INSERT INTO actions (run, id, name, kind, phase, cache_status) "
            "VALUES ('old', ?, 't', 'task', 'SUCCEEDED', ?)",
            (f"a{i}", "hit" if i else "miss"),
        )
    conn.close()
    rec = SqliteRunStore(db).get_run("old")
    assert rec is not None and (rec.action_count, rec.cache_hits) == (3, 2)


def test_a_store_that_cannot_be_made_there_is_one_line_naming_what_is_in_the_way(
    tmp_path: Path,
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    (tmp_path / "a-folder").mkdir()
    cases = [
        (a_file / "home", (), f"{a_file} is a file, not a folder: point FLYTE_HOME"),
        (
            tmp_path / "home",
            ("--store", str(tmp_path / "a-folder")),
            "is a folder, not a file: point --store at a file",
        ),
    ]
    if Path("/proc/self").is_dir():  # a folder nothing can be created in, even as root
        cases.append((Path("/proc/self/no/such/home"), (), "cannot create the run store"))
    for home, options, message in cases:
        result = cli(home, *options, "get", "runs")
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert message in result.stderr


def test_a_store_opens_for_reading_while_another_process_holds_its_write_lock(
    tmp_path: Path,
) -> None:
    # Opening ran `PRAGMA auto_vacuum = INCREMENTAL`, which takes the write lock even when
    # it changes nothing: `flyte get runs` waited the whole busy timeout (60 s) and failed
    # while a gc or a big transaction of another process held the lock.
    path = tmp_path / "runs.db"
    store = SqliteRunStore(path)
    store.write([("run_insert", {"name": "r", "task": "t", "phase": "RUNNING", "created_at": 1.0})])
    store.close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process's long write
    try:
        reader = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from flyte._store.sqlite import SqliteRunStore; "
                "print([r.name for r in SqliteRunStore(sys.argv[1]).list_runs()])",
                str(path),
            ],
            capture_output=True,
            text=True,
            timeout=30,  # a bound on the hang; the read takes well under a second
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert reader.returncode == 0, reader.stderr
    assert reader.stdout.strip() == "['r']"
