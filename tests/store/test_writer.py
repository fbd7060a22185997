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
