"""The batching writer's group commit: ops queued while a batch gathers share one commit."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from flyte._controller import writer as writer_module
from flyte._controller.writer import Writer


class _RecordingStore:
    """A store that keeps each batch it is asked to write."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []
        self.lock = threading.Lock()

    def write(self, batch: list[Any]) -> None:
        with self.lock:
            self.batches.append(list(batch))


def _log(i: int) -> tuple[str, dict[str, Any]]:
    return ("log", {"run": "r", "action": "a0", "attempt": 1, "ts": i, "stream": "out", "line": ""})


def _wait_until_gathering(writer: Writer) -> None:
    deadline = time.monotonic() + 10
    while not writer._gathering:
        assert time.monotonic() < deadline, "the writer never started gathering a batch"
        time.sleep(0.001)


def test_ops_queued_while_a_batch_gathers_commit_together(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A long window: the batch can only end early because flush() cuts it short.
    monkeypatch.setattr(writer_module, "_GATHER", 60.0)
    store = _RecordingStore()
    writer = Writer(store, threaded=True)  # type: ignore[arg-type]
    writer.put(_log(0))
    _wait_until_gathering(writer)
    for i in range(1, 10):
        writer.put(_log(i))  # none of these wakes the writer
    assert store.batches == []
    writer.flush(timeout=30)
    assert [[op[1]["ts"] for op in batch] for batch in store.batches] == [list(range(10))]
    writer.close()


def test_a_flush_does_not_wait_out_the_gathering_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_module, "_GATHER", 60.0)
    store = _RecordingStore()
    writer = Writer(store, threaded=True)  # type: ignore[arg-type]
    writer.put(_log(0))
    _wait_until_gathering(writer)
    # flush(timeout) returns after `timeout` without raising when nothing was written: the
    # assertion on the batches is what tells a flush that cut the window short.
    writer.flush(timeout=30)
    assert len(store.batches) == 1
    # A flush racing the writer's wake-up (before it gathers) is not delayed either.
    writer.put(_log(1))
    writer.flush(timeout=30)
    assert sum(len(batch) for batch in store.batches) == 2
    writer.close()


def test_a_batch_that_fills_up_commits_without_waiting_out_the_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A fast producer fills a batch long before the window ends: it is written then, so
    # what a run's final flush still has to write stays small.
    monkeypatch.setattr(writer_module, "_GATHER", 60.0)
    store = _RecordingStore()
    writer = Writer(store, threaded=True)  # type: ignore[arg-type]
    writer.put(_log(0))
    _wait_until_gathering(writer)
    for i in range(1, writer_module._GATHER_OPS + 8):
        writer.put(_log(i))
    deadline = time.monotonic() + 10
    while not store.batches:  # no flush: only a full batch ends the 60 s window
        assert time.monotonic() < deadline, "a full batch waited for the window to end"
        time.sleep(0.001)
    assert len(store.batches[0]) >= writer_module._GATHER_OPS
    writer.flush(timeout=30)
    assert sum(len(batch) for batch in store.batches) == writer_module._GATHER_OPS + 8
    writer.close()


class _GatedStore(_RecordingStore):
    """A store whose writes wait for `go`: slower than any engine."""

    def __init__(self) -> None:
        super().__init__()
        self.go = threading.Event()
        self.fail: Exception | None = None

    def write(self, batch: list[Any]) -> None:
        self.go.wait(30)
        if self.fail is not None:
            raise self.fail
        super().write(batch)


def test_a_backlog_past_the_high_water_mark_makes_puts_wait_for_the_writer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A 100,000-task fan-out queued 200,000 operations (about 1 KB each) while SQLite
    # wrote: puts now wait once the backlog passes the mark, until it is down to half.
    monkeypatch.setattr(writer_module, "_HIGH_WATER", 100)
    monkeypatch.setattr(writer_module, "_MAX_BATCH", 60)
    store = _GatedStore()
    writer = Writer(store, threaded=True)  # type: ignore[arg-type]
    done = threading.Event()
    most = [0]

    def produce() -> None:
        for i in range(400):
            writer.put(_log(i))
            most[0] = max(most[0], len(writer._ops))
        done.set()

    producer = threading.Thread(target=produce)
    producer.start()
    deadline = time.monotonic() + 10
    while not writer._throttled:  # the producer waits, the store has written nothing
        assert time.monotonic() < deadline, "the producer never waited"
        time.sleep(0.001)
    assert not done.is_set() and store.batches == []
    store.go.set()
    producer.join(timeout=30)
    assert done.is_set()
    writer.flush(timeout=30)
    assert most[0] <= 101
    assert [op[1]["ts"] for batch in store.batches for op in batch] == list(range(400))
    writer.close()


def test_a_failing_store_is_never_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_module, "_HIGH_WATER", 10)
    monkeypatch.setattr(writer_module, "_RETRY_FIRST", 30.0)  # one failure, then a long wait
    store = _GatedStore()
    store.fail = OSError(28, "No space left on device")
    store.go.set()
    writer = Writer(store, threaded=True)  # type: ignore[arg-type]
    writer.put(_log(0))
    deadline = time.monotonic() + 10
    while writer.error is None:
        assert time.monotonic() < deadline, "the write never failed"
        time.sleep(0.001)
    started = time.monotonic()
    for i in range(1, 100):
        writer.put(_log(i))  # kept for the retry, without waiting
    assert time.monotonic() - started < 1.0
    assert len(writer._ops) >= 90
    store.fail = None  # space freed: the retry writes everything
    writer.close()
    assert [op[1]["ts"] for batch in store.batches for op in batch] == list(range(100))


def test_updates_made_while_a_failed_batch_waits_for_its_retry_keep_their_order(
    tmp_path: Any,
) -> None:
    """An action's insert in a batch that fails for a passing reason goes back to the
    queue, behind which an update made during that write already waits. A later update
    must not be merged into the insert ahead of it: the action would end with the older
    update's phase (RUNNING with outputs, re-run by a recovery)."""
    import sqlite3

    from flyte._store.sqlite import SqliteRunStore

    real = SqliteRunStore(tmp_path / "runs.db")
    now = time.time()
    real.write([("run_insert", {"name": "r", "task": "t", "phase": "RUNNING", "created_at": now,
                                "started_at": now, "pid": 1, "host": "h", "heartbeat": now})])  # fmt: skip
    entered, failed_once, retry = threading.Event(), threading.Event(), threading.Event()

    class Flaky:
        """Fails its first write as a locked database would, once the test has queued an
        update behind it; holds the retry until the test has made one more update."""

        path = real.path
        calls = 0

        def write(self, batch: list[Any]) -> None:
            Flaky.calls += 1
            if Flaky.calls == 1:
                entered.set()
                assert failed_once.wait(10)
                raise sqlite3.OperationalError("database is locked")
            assert retry.wait(10)
            real.write(batch)

    writer = Writer(Flaky(), threaded=True)  # type: ignore[arg-type]
    action = {"run": "r", "id": "a1", "parent": None, "name": "t", "kind": "task",
              "phase": "QUEUED", "inputs_json": "{}", "started_at": now, "attempts": 1,
              "settings": {}, "seq": 0}  # fmt: skip
    writer.put(("action_insert", action))
    assert entered.wait(10)  # the insert's batch is being written
    writer.update_action("r", "a1", {"phase": "RUNNING"})
    failed_once.set()
    deadline = time.monotonic() + 10
    while writer.error is None:  # the failed batch is back in the queue
        assert time.monotonic() < deadline, "the write never failed"
        time.sleep(0.001)
    writer.update_action("r", "a1", {"phase": "SUCCEEDED", "outputs_json": "1"})
    retry.set()
    writer.flush(timeout=10)
    got = real.get_action("r", "a1")
    assert got is not None
    assert (got.phase.value, got.outputs_json) == ("SUCCEEDED", "1")
