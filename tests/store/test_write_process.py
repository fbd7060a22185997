"""The write process: big runs are written by a process of their own, losing nothing.

`FLYTE_WRITE_PROCESS=always` hands every batch to it from the first operation (the
default starts it after a few thousand operations); `never` keeps writing in the driver.
Faults (a killed write process, a killed driver, a full disk) run in subprocesses with
deadlines.
"""

from __future__ import annotations

import asyncio
import json
import marshal
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import flyte
from flyte._models import Phase
from flyte._store.sqlite import SqliteRunStore

env = flyte.TaskEnvironment("write_process")


@env.task(cache="auto")
async def square(i: int) -> int:
    print(f"square {i}")
    return i * i


@env.task
async def broken(i: int) -> int:
    raise ValueError(f"broken {i}")


@env.task
async def fan(n: int) -> int:
    total = sum(await asyncio.gather(*(square(i) for i in range(n))))
    try:
        await broken(n)
    except flyte.errors.RuntimeUserError:
        total += 1
    return total


def _write_processes() -> list[int]:
    """Pids of this process's children that are write processes."""
    found = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except OSError:  # the thread ended meanwhile
            continue
        for pid in children:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"flyte._store.write_process" in cmdline:
                found.append(int(pid))
    return found


def _snapshot(store: SqliteRunStore, run: str) -> dict[str, Any]:
    actions = sorted(store.list_actions(run), key=lambda a: a.id)
    return {
        "actions": [(a.id, a.name, a.phase, a.outputs_json, a.cache_status) for a in actions],
        "attempts": sorted((a.action, a.attempt, a.phase) for a in store.list_attempts(run)),
        "logs": sorted((line.action, line.line) for line in store.logs(run)),
    }


@pytest.mark.parametrize("mode", ["always", "never"])
def test_a_run_written_by_the_write_process_reads_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setenv("FLYTE_WRITE_PROCESS", mode)
    store = SqliteRunStore(tmp_path / "runs.db")
    flyte.init(store=store)
    first = flyte.with_runcontext(echo=False).run(fan, 30)
    again = flyte.with_runcontext(echo=False).run(fan, 30)  # all hits now
    assert first.outputs()[0] == again.outputs()[0] == sum(i * i for i in range(30)) + 1
    assert bool(_write_processes()) == (mode == "always")
    got = _snapshot(store, first.name)
    assert len(got["actions"]) == 32 and len(got["logs"]) == 30
    assert [a[2] for a in got["actions"]].count(Phase.FAILED) == 1
    hits = _snapshot(store, again.name)["actions"]
    assert sum(1 for a in hits if str(a[4]) == "hit") == 30
    run = store.get_run(first.name)
    assert run is not None and run.phase is Phase.SUCCEEDED and run.action_count == 32


def test_small_runs_start_no_write_process_and_big_ones_do(sqlite_store: SqliteRunStore) -> None:
    flyte.with_runcontext(echo=False).run(fan, 10)
    assert _write_processes() == []
    big = flyte.with_runcontext(echo=False).run(fan, 1500)  # past the first 2,000 operations
    assert len(_write_processes()) == 1
    assert len(sqlite_store.list_actions(big.name)) == 1502


def test_a_big_batch_that_starts_the_write_process_is_written_by_it(
    sqlite_store: SqliteRunStore,
) -> None:
    # Written in the driver, such a batch fought the busy engine for the GIL while the
    # process started (700 ms for 10,000 operations): it waits for the process.
    from flyte._controller.writer import Writer

    writer = Writer(sqlite_store, threaded=True)
    rows = [{"run": "r", "id": f"a{i}", "line": "x"} for i in range(5000)]
    with writer._cond:  # the writer thread takes all 5,001 operations as one batch
        writer.put(("run_insert", {"name": "r", "task": "t", "phase": "RUNNING",
                                   "created_at": 1.0}))  # fmt: skip
        for row in rows:
            writer.put(("log", {"run": "r", "action": None, "attempt": 1, "ts": 1.0,
                                "stream": "stdout", "line": row["line"]}))  # fmt: skip
    try:
        writer.flush(timeout=60)
        assert len(_write_processes()) == 1
        assert writer._applied == 0  # nothing was written in the driver
        assert len(sqlite_store.logs("r")) == 5000
    finally:
        writer.close()


def test_a_small_batch_past_the_threshold_does_not_wait_for_the_process(
    sqlite_store: SqliteRunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A run that crosses the threshold with a small batch (the second run of a burst, a
    # watch-mode re-run after the writer went idle) must not end up to 2 s late because
    # its last batch waited for a process still starting: it is written here meanwhile.
    from flyte._controller import writer as writer_module

    waits: list[float] = []

    class Starting:  # a write process that never gets ready
        pid_started = os.getpid()

        def ready(self, wait: float = 0.0) -> bool:
            waits.append(wait)
            return False

        def close(self) -> None:
            pass

    monkeypatch.setattr(
        writer_module._WriteProcess, "start", classmethod(lambda cls, path: Starting())
    )
    monkeypatch.setattr(writer_module, "_PROCESS_AFTER", 300)
    flyte.with_runcontext(echo=False).run(fan, 50)
    second = flyte.with_runcontext(echo=False).run(fan, 600)  # crosses 300 operations
    assert waits and max(waits) == 0.0
    assert len(sqlite_store.list_actions(second.name)) == 602


def test_a_store_connection_takes_a_bigger_page_cache(sqlite_store: SqliteRunStore) -> None:
    sqlite_store.set_cache_size(32 * 1024)
    assert sqlite_store._conn().execute("PRAGMA cache_size").fetchone()[0] == -32 * 1024


KILLED_CHILD = """
import asyncio, json, os, signal, sys
import flyte
from flyte._store.sqlite import SqliteRunStore
from flyte._controller.local import get_controller

store = SqliteRunStore(sys.argv[1])
flyte.init(store=store)
env = flyte.TaskEnvironment("killed_child")


@env.task
async def leaf(i: int) -> int:
    if i == 100:
        proc = get_controller().writer_for(store)._process.proc
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    await asyncio.sleep(0)
    return i


@env.task
async def main(n: int) -> int:
    total = 0
    for start in range(0, n, 50):  # batches keep flowing before and after the kill
        total += sum(await asyncio.gather(*(leaf(i) for i in range(start, start + 50))))
    return total


run = flyte.with_runcontext(echo=False).run(main, 300)
print(json.dumps({"run": run.name, "out": run.outputs()[0]}))
"""


def _driver_env(tmp_path: Path, mode: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FLYTE_")}
    environ.update(FLYTE_HOME=str(tmp_path / "home"), FLYTE_WRITE_PROCESS=mode)
    return environ


def test_a_killed_write_process_falls_back_and_loses_nothing(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    script = tmp_path / "driver.py"
    script.write_text(KILLED_CHILD)
    result = subprocess.run(
        [sys.executable, str(script), str(db)],
        capture_output=True,
        text=True,
        env=_driver_env(tmp_path, "always"),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["out"] == sum(range(300))
    assert "write process ended" in result.stderr
    store = SqliteRunStore(db)
    run = store.get_run(out["run"])
    assert run is not None and run.phase is Phase.SUCCEEDED
    actions = store.list_actions(out["run"])
    assert len(actions) == 301 and all(a.phase is Phase.SUCCEEDED for a in actions)


KILLED_DRIVER = """
import asyncio, os, sys
import flyte
from flyte._store.sqlite import SqliteRunStore
from flyte._controller.local import get_controller

store = SqliteRunStore(sys.argv[1])
flyte.init(store=store)
env = flyte.TaskEnvironment("killed_driver")


@env.task
async def leaf(i: int) -> int:
    return i


@env.task
async def main(n: int) -> int:
    await asyncio.gather(*(leaf(i) for i in range(n)))
    writer = get_controller().writer_for(store)
    writer.flush()  # everything so far is recorded; then say which process wrote it
    with open(sys.argv[2] + ".tmp", "w") as f:
        f.write(str(writer._process.proc.pid))
    os.replace(sys.argv[2] + ".tmp", sys.argv[2])
    await asyncio.sleep(600)
    return n


flyte.with_runcontext(name="killed", echo=False).run(main, 200)
"""


def test_the_write_process_ends_with_a_killed_driver(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    script = tmp_path / "driver.py"
    script.write_text(KILLED_DRIVER)
    said = tmp_path / "write-process.pid"
    driver = subprocess.Popen(
        [sys.executable, str(script), str(db), str(said)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_driver_env(tmp_path, "always"),
    )
    try:
        deadline = time.monotonic() + 60
        while not said.exists() and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert said.exists(), "the driver never reached its sleep"
        child = int(said.read_text())
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
        deadline = time.monotonic() + 30
        while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
            try:  # not our child: it is reaped by init once it exits
                if Path(f"/proc/{child}/stat").read_text().split(")")[1].split()[0] == "Z":
                    break
            except OSError:
                break
            time.sleep(0.05)
        assert time.monotonic() < deadline, "the write process outlived its driver"
    finally:
        driver.kill()
        driver.wait()
    store = SqliteRunStore(db)
    leaves = [a for a in store.list_actions("killed") if a.name.endswith("leaf")]
    assert len(leaves) == 200 and all(a.phase is Phase.SUCCEEDED for a in leaves)


DISK_FULL = """
import json, resource, sys
import flyte
from flyte._store.sqlite import SqliteRunStore
from flyte._controller.local import get_controller
from flyte.errors import StoreError

store = SqliteRunStore(sys.argv[1])
flyte.init(store=store)
env = flyte.TaskEnvironment("full_process")
_, HARD = resource.getrlimit(resource.RLIMIT_FSIZE)


def limit(size):
    # A full disk is full for every process: the driver's and its write process's.
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, HARD))
    resource.prlimit(get_controller().writer_for(store)._process.proc.pid,
                     resource.RLIMIT_FSIZE, (size, HARD))


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
            limit(0)  # the disk is full now
        total += leaf(i)
    return total


out = {"first": flyte.with_runcontext(name="first", echo=False).run(fan, 5).name}
try:
    flyte.with_runcontext(name="doomed", echo=False).run(fill, 10**6)
    out["error"] = None
except StoreError as exc:
    out["error"] = str(exc)
limit(HARD)  # space returns
out["next"] = flyte.with_runcontext(name="next", echo=False).run(fan, 4).outputs()[0]
print(json.dumps(out))
"""


def test_a_full_disk_under_the_write_process_fails_the_run_and_recording_resumes(
    tmp_path: Path,
) -> None:
    db = tmp_path / "runs.db"
    script = tmp_path / "driver.py"
    script.write_text(DISK_FULL)
    result = subprocess.run(
        [sys.executable, str(script), str(db)],
        capture_output=True,
        text=True,
        env=_driver_env(tmp_path, "always"),
        timeout=90,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    error = out["error"]
    assert error is not None and "\n" not in error
    assert "disk I/O error" in error or "full" in error, error
    assert out["next"] == 6
    store = SqliteRunStore(db)
    assert len(store.list_actions("first")) == 6
    doomed = store.get_run("doomed")
    assert doomed is not None and doomed.phase is Phase.FAILED
    assert all(a.phase.is_terminal for a in store.list_actions("doomed"))
    nxt = store.get_run("next")
    assert nxt is not None and nxt.phase is Phase.SUCCEEDED


def test_the_write_process_works_past_descriptor_1024(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import resource

    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 1200:
        pytest.skip("needs 1,200 open files")
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1030)]  # pipes land past 1024
    try:
        monkeypatch.setenv("FLYTE_WRITE_PROCESS", "always")
        store = SqliteRunStore(tmp_path / "runs.db")
        flyte.init(store=store)
        run = flyte.with_runcontext(echo=False).run(fan, 5)
        assert run.outputs()[0] == sum(i * i for i in range(5)) + 1
        assert len(store.list_actions(run.name)) == 7
    finally:
        for fd in held:
            os.close(fd)


@pytest.mark.parametrize("mode", ["always", "never"])
def test_a_backlog_is_written_in_bounded_batches_and_updates_still_merge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    from flyte._controller import writer as writer_module

    monkeypatch.setenv("FLYTE_WRITE_PROCESS", mode)
    monkeypatch.setattr(writer_module, "_MAX_BATCH", 7)
    store = SqliteRunStore(tmp_path / "runs.db")
    written: list[int] = []
    real_write = writer_module.Writer._write

    def counting(self: Any, batch: list[Any]) -> None:
        written.append(len(batch))
        real_write(self, batch)

    monkeypatch.setattr(writer_module.Writer, "_write", counting)
    writer = writer_module.Writer(store, threaded=True)
    now = time.time()
    with writer._cond:  # queue it all before the writer thread takes anything
        writer.put(("run_insert", {"name": "r", "task": "t", "phase": "RUNNING",
                                   "created_at": now}))  # fmt: skip
        for i in range(50):
            writer.put(("action_insert", {"run": "r", "id": f"a{i}", "parent": None,
                                          "name": "t", "kind": "task", "phase": "RUNNING",
                                          "settings": {}, "started_at": now}))  # fmt: skip
        for i in range(50):
            writer.update_action("r", f"a{i}", {"phase": "SUCCEEDED", "ended_at": now})
    writer.flush(timeout=60)
    writer.release_process()
    assert max(written) <= 7 and sum(written) >= 51
    actions = store.list_actions("r")
    assert len(actions) == 50 and all(a.phase is Phase.SUCCEEDED for a in actions)


def test_frames_are_read_whole_however_the_pipe_delivers_them() -> None:
    """The driver reads each reply in one system call when it can; frames that arrive
    together, split, or big must still come out one by one, and a cut stream ends."""
    from flyte._store.write_process import FrameReader, send_frame

    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "wb") as out:
        big = ["x" * 1000] * 300  # past one read of 64 KiB
        send_frame(out, marshal.dumps(("ok",)))
        send_frame(out, marshal.dumps(("error", True, "disk full")))
        reader = FrameReader(read_end)
        assert reader.read() == ("ok",)
        assert reader.read() == ("error", True, "disk full")
        writer = threading.Thread(target=send_frame, args=(out, marshal.dumps(big)))
        writer.start()
        assert reader.read() == big
        writer.join()
        frame = marshal.dumps(("ready",))
        os.write(write_end, len(frame).to_bytes(4, "big") + frame[:2])  # cut short
    assert reader.read() is None
    os.close(read_end)
