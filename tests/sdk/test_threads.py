"""SyncPool, the threads of sync task bodies: bounded, never deadlocked by nesting.

Its contract (flyte/_controller/threads.py): at most `limit` threads run a body at once; a
body waiting for a child inside `blocking()` stops counting, so the child gets a thread
even when every slot is taken; queued work is cancelled by shutdown; idle threads leave.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from flyte._controller import threads
from flyte._controller.threads import SyncPool

DEADLINE = 30.0


def _wait(condition: Any) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {condition}"
        time.sleep(0.005)


def test_at_most_limit_bodies_run_at_once_and_the_rest_queue() -> None:
    pool = SyncPool(2, name="bounded")
    lock = threading.Lock()
    live = {"now": 0, "peak": 0}
    meet = threading.Barrier(2)

    def body(i: int) -> int:
        with lock:
            live["now"] += 1
            live["peak"] = max(live["peak"], live["now"])
        meet.wait(DEADLINE)  # two at once, or this never returns
        with lock:
            live["now"] -= 1
        return i

    futures = [pool.submit(body, i) for i in range(6)]
    assert [f.result(DEADLINE) for f in futures] == list(range(6))
    assert live["peak"] == 2
    _wait(lambda: pool.active == 0)


def test_a_body_waiting_for_its_child_frees_its_slot() -> None:
    pool = SyncPool(1, name="nested")

    def child() -> str:
        return "child done"

    def parent() -> str:
        future = pool.submit(child)  # queued: the only slot is this body's
        with pool.blocking():
            return str(future.result(DEADLINE))

    assert pool.submit(parent).result(DEADLINE) == "child done"
    with pool.blocking():  # outside the pool: nothing to free
        assert pool.active == 0


def test_shutdown_cancels_what_is_queued_and_a_failed_job_is_reported(
    capfd: pytest.CaptureFixture[str],
) -> None:
    pool = SyncPool(1, name="stopping")
    release = threading.Event()
    running = pool.submit(release.wait, DEADLINE)
    queued = pool.submit(lambda: "never")
    pool.shutdown(wait=False)
    assert queued.cancelled()
    release.set()
    assert running.result(DEADLINE) is True

    def boom() -> None:
        raise RuntimeError("job failed")

    done = threading.Event()
    pool.start(boom)
    pool.start(done.set)  # runs after boom on the same thread: the report is out by then
    assert done.wait(DEADLINE)
    assert "flyte: a pool job failed: RuntimeError('job failed')" in capfd.readouterr().err


def test_idle_threads_leave_and_new_work_starts_new_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "_IDLE_EXIT", 0.05)
    pool = SyncPool(4, name="idle-exit")

    def ours() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name.startswith("idle-exit-")]

    assert pool.submit(lambda: 1).result(DEADLINE) == 1
    _wait(lambda: not ours())  # the idle thread left
    assert pool.submit(lambda: 2).result(DEADLINE) == 2
    _wait(lambda: not ours())
