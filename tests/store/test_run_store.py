"""The RunStore protocol, through both implementations: write operations, then read back."""

from __future__ import annotations

import os
import pickle
import socket
import time
from typing import Any

import pytest

from flyte._models import ActionKind, CacheStatus, Phase
from flyte.errors import RunActiveError

HOST = socket.gethostname()


def run_row(name: str, *, task: str = "env.main", phase: str = "RUNNING", at: float | None = None,
            **extra: Any) -> dict[str, Any]:  # fmt: skip
    t = time.time() if at is None else at
    return {
        "name": name,
        "task": task,
        "phase": phase,
        "created_at": t,
        "started_at": t,
        "inputs_json": '{"x": 1}',
        "inputs_blob": pickle.dumps(((1,), {})),
        "pid": os.getpid(),
        "host": HOST,
        "heartbeat": time.time(),
        "settings": {"mode": "local"},
        "labels": {"team": "ml"},
        "task_blob": b"task-bytes",
        **extra,
    }


def action_row(run: str, aid: str, *, parent: str | None = "a0", name: str = "env.child",
               seq: int = 0, at: float = 1.0, **extra: Any) -> dict[str, Any]:  # fmt: skip
    return {
        "run": run,
        "id": aid,
        "parent": parent,
        "name": name,
        "kind": "task",
        "phase": "RUNNING",
        "grp": None,
        "inputs_hash": f"h-{aid}",
        "inputs_json": '{"x": 1}',
        "started_at": at,
        "settings": {"retries": 0, "resources": {"cpu": 1}},
        "seq": seq,
        **extra,
    }


def log_op(
    run: str, action: str | None, line: str, *, attempt: int = 1, stream: str = "stdout"
) -> tuple[Any, ...]:
    return ("log", {"run": run, "action": action, "attempt": attempt, "ts": time.time(),
                    "stream": stream, "line": line})  # fmt: skip


def seed_run(store: Any, name: str = "r1") -> None:
    store.write(
        [
            ("run_insert", run_row(name)),
            ("action_insert", action_row(name, "a0", parent=None, name="env.main", at=1.0)),
            ("action_insert", action_row(name, "c1", at=2.0, grp="g", seq=0)),
            ("action_insert", action_row(name, "c2", at=2.0, seq=1, kind="trace")),
        ]
    )


def test_is_a_fresh_empty_store(store: Any) -> None:
    assert store.list_runs() == []
    assert store.get_run("nope") is None
    assert store.list_actions("nope") == []
    assert store.get_action("nope", "a0") is None
    assert store.get_blob("nope", None, "inputs") is None
    assert store.logs("nope") == []
    assert store.cache_entries() == []
    assert store.list_deployed() == []


def test_run_round_trip(store: Any) -> None:
    store.write([("run_insert", run_row("r1"))])
    rec = store.get_run("r1")
    assert rec is not None
    assert (rec.name, rec.task, rec.phase) == ("r1", "env.main", Phase.RUNNING)
    assert rec.inputs_json == '{"x": 1}'
    assert rec.settings == {"mode": "local"}
    assert rec.labels == {"team": "ml"}
    assert rec.pid == os.getpid()
    assert rec.interrupted is False
    assert rec.action_count == 0
    assert store.run_task_blob("r1") == b"task-bytes"
    assert pickle.loads(store.get_blob("r1", None, "inputs")) == ((1,), {})

    store.write([("run_update", "r1", {"phase": "SUCCEEDED", "ended_at": rec.started_at + 2,
                                       "outputs_json": "3", "outputs_blob": pickle.dumps(3)})])  # fmt: skip
    rec = store.get_run("r1")
    assert rec.phase is Phase.SUCCEEDED
    assert rec.duration == pytest.approx(2)
    assert rec.outputs_json == "3"
    assert pickle.loads(store.get_blob("r1", None, "outputs")) == 3


def test_actions_round_trip(store: Any) -> None:
    seed_run(store)
    store.write(
        [
            ("action_update", "r1", "c1", {"phase": "SUCCEEDED", "attempts": 2, "ended_at": 3.5,
                                           "outputs_json": "[1]", "outputs_blob": pickle.dumps([1]),
                                           "cache_status": "hit", "cache_key": "k1"}),
            ("action_update", "r1", "c2", {"phase": "FAILED", "error_type": "ValueError",
                                           "error_message": "bad", "traceback": "Traceback..."}),
        ]
    )  # fmt: skip
    actions = store.list_actions("r1")
    assert [a.id for a in actions] == ["a0", "c1", "c2"]  # by start time, then seq
    a0, c1, c2 = actions
    assert a0.parent is None and c1.parent == "a0"
    assert c1.group == "g" and c2.group is None
    assert c1.phase is Phase.SUCCEEDED and c1.attempts == 2
    assert c1.cache_status is CacheStatus.HIT and c1.cache_key == "k1"
    assert c1.duration == pytest.approx(1.5)
    assert c1.settings == {"retries": 0, "resources": {"cpu": 1}}
    assert c2.kind is ActionKind.TRACE
    assert (c2.phase, c2.error_type, c2.error_message, c2.traceback) == (
        Phase.FAILED, "ValueError", "bad", "Traceback...",
    )  # fmt: skip
    assert store.get_action("r1", "c1") == c1
    assert pickle.loads(store.get_blob("r1", "c1", "outputs")) == [1]
    assert store.successful_actions("r1") == {"c1": ("h-c1", pickle.dumps([1]), "task")}
    rec = store.get_run("r1")
    assert rec.action_count == 3
    assert rec.cache_hits == 1


def test_attempts_upsert(store: Any) -> None:
    seed_run(store)
    base = {"run": "r1", "action": "c1", "started_at": 1.0}
    store.write([("attempt_upsert", {**base, "attempt": 1, "phase": "RUNNING"})])
    store.write(
        [
            ("attempt_upsert", {**base, "attempt": 1, "phase": "FAILED", "ended_at": 1.5,
                                "error_type": "OSError", "error_message": "flaky"}),
            ("attempt_upsert", {**base, "attempt": 2, "phase": "SUCCEEDED", "started_at": 2.0,
                                "ended_at": 2.5}),
            ("attempt_upsert", {**base, "action": "c2", "attempt": 1, "phase": "RUNNING"}),
        ]
    )  # fmt: skip
    attempts = store.list_attempts("r1", "c1")
    assert [(a.attempt, a.phase) for a in attempts] == [(1, Phase.FAILED), (2, Phase.SUCCEEDED)]
    assert (attempts[0].error_type, attempts[0].error_message) == ("OSError", "flaky")
    assert attempts[1].ended_at == 2.5
    assert len(store.list_attempts("r1")) == 3


def test_logs_follow_order_filters_and_tail(store: Any) -> None:
    seed_run(store)
    store.write([log_op("r1", "a0", "root 1"), log_op("r1", "c1", "child 1")])
    store.write(
        [
            log_op("r1", "c1", "child 2", stream="stderr"),
            log_op("r1", "c1", "child retry", attempt=2),
            log_op("r1", "a0", "root 2", stream="log"),
        ]
    )
    lines = store.logs("r1")
    assert [ln.line for ln in lines] == ["root 1", "child 1", "child 2", "child retry", "root 2"]
    seqs = [ln.seq for ln in lines]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    assert [ln.line for ln in store.logs("r1", action_id="c1")] == [
        "child 1",
        "child 2",
        "child retry",
    ]
    assert [ln.stream for ln in store.logs("r1", action_id="c1")] == ["stdout", "stderr", "stdout"]
    assert [ln.line for ln in store.logs("r1", action_id="c1", attempt=2)] == ["child retry"]
    # Following: only lines after the last seen seq.
    assert [ln.line for ln in store.logs("r1", after=seqs[2])] == ["child retry", "root 2"]
    assert store.logs("r1", after=seqs[-1]) == []
    # Tail: the last N lines, oldest first.
    assert [ln.line for ln in store.logs("r1", limit=2)] == ["child retry", "root 2"]
    assert all(ln.run == "r1" for ln in lines)


def test_cache_entries(store: Any) -> None:
    store.write(
        [
            ("cache_put", {"key": "k1", "task": "env.square", "parts": {"inputs": "i1"},
                           "outputs_json": "4", "outputs_blob": pickle.dumps(4),
                           "created_at": 1.0, "run": "r1", "action": "c1"}),
            ("cache_put", {"key": "k2", "task": "env.square", "parts": {"inputs": "i2"},
                           "outputs_json": "9", "outputs_blob": pickle.dumps(9),
                           "created_at": 2.0, "run": "r1", "action": "c2"}),
            ("cache_put", {"key": "k3", "task": "env.cube", "parts": {}, "outputs_json": "8",
                           "outputs_blob": pickle.dumps(8), "created_at": 3.0, "run": None,
                           "action": None}),
        ]
    )  # fmt: skip
    entry, blob = store.cache_get("k1")
    assert (entry.key, entry.task, entry.parts, entry.run, entry.action) == (
        "k1", "env.square", {"inputs": "i1"}, "r1", "c1",
    )  # fmt: skip
    assert pickle.loads(blob) == 4
    assert store.cache_get("missing") is None
    assert [e.key for e in store.cache_entries()] == ["k3", "k2", "k1"]  # newest first
    assert [e.key for e in store.cache_entries("env.square")] == ["k2", "k1"]
    assert [e.key for e in store.cache_entries("square")] == ["k2", "k1"]  # short name
    assert store.cache_clear("square") == 2
    assert [e.key for e in store.cache_entries()] == ["k3"]
    assert store.cache_clear() == 1
    assert store.cache_entries() == []


def test_cache_put_without_optional_fields(store: Any) -> None:
    store.write([("cache_put", {"key": "k", "task": "env.t", "parts": {},
                                "outputs_blob": pickle.dumps(1), "created_at": 1.0})])  # fmt: skip
    entry, blob = store.cache_get("k")
    assert (entry.run, entry.action, entry.outputs_json, pickle.loads(blob)) == (
        None,
        None,
        None,
        1,
    )
    assert [e.key for e in store.cache_entries()] == ["k"]


def test_deployed_tasks(store: Any) -> None:
    row = {"name": "env.t", "env": "env", "interface": {"inputs": {}}, "settings": {"retries": 1}}
    store.write([("deploy", {**row, "version": "v1", "snapshot": b"s1", "created_at": 1.0})])
    store.write([("deploy", {**row, "version": "v2", "snapshot": b"s2", "created_at": 2.0})])
    latest, snapshot = store.get_deployed("env.t")
    assert (latest.version, snapshot) == ("v2", b"s2")
    assert latest.interface == {"inputs": {}} and latest.settings == {"retries": 1}
    v1, snapshot = store.get_deployed("env.t", "v1")
    assert (v1.version, snapshot) == ("v1", b"s1")
    assert store.get_deployed("env.t", "v9") is None
    assert store.get_deployed("env.other") is None
    assert [(d.name, d.version) for d in store.list_deployed()] == [
        ("env.t", "v2"),
        ("env.t", "v1"),
    ]


def test_list_runs_filters(store: Any) -> None:
    now = time.time()
    store.write(
        [
            ("run_insert", run_row("old-fox", task="env.a", phase="SUCCEEDED", at=now - 100)),
            ("run_insert", run_row("mid-owl", task="env.b", phase="FAILED", at=now - 50)),
            ("run_insert", run_row("new-fox", task="env.a", phase="SUCCEEDED", at=now - 10)),
        ]
    )
    assert [r.name for r in store.list_runs()] == ["new-fox", "mid-owl", "old-fox"]
    assert [r.name for r in store.list_runs(phase="succeeded")] == ["new-fox", "old-fox"]
    assert [r.name for r in store.list_runs(phase=Phase.FAILED)] == ["mid-owl"]
    assert [r.name for r in store.list_runs(task="env.a")] == ["new-fox", "old-fox"]
    assert [r.name for r in store.list_runs(task="b")] == ["mid-owl"]
    assert [r.name for r in store.list_runs(search="fox")] == ["new-fox", "old-fox"]
    assert [r.name for r in store.list_runs(limit=2)] == ["new-fox", "mid-owl"]
    assert [r.name for r in store.list_runs(since=now - 60)] == ["new-fox", "mid-owl"]
    assert len(store.list_runs(limit=None)) == 3


def test_request_abort(store: Any) -> None:
    store.write(
        [("run_insert", run_row("live")), ("run_insert", run_row("done", phase="SUCCEEDED"))]
    )
    assert store.abort_requested("live") is False
    assert store.request_abort("live") is True
    assert store.abort_requested("live") is True
    assert store.request_abort("done") is False
    assert store.abort_requested("done") is False
    assert store.request_abort("missing") is False


def test_delete_run(store: Any) -> None:
    seed_run(store, "r1")
    seed_run(store, "r2")
    store.write([log_op("r1", "a0", "x"), log_op("r2", "a0", "y")])
    store.write([("attempt_upsert", {"run": "r1", "action": "a0", "attempt": 1, "phase": "RUNNING",
                                     "started_at": 1.0})])  # fmt: skip
    # A run this live process still drives cannot be deleted (issue 13); a finished one can.
    with pytest.raises(RunActiveError, match="abort it first"):
        store.delete_run("r1")
    store.write([("run_update", "r1", {"phase": "FAILED", "ended_at": 2.0})])
    assert store.delete_run("r1") is True
    assert store.get_run("r1") is None
    assert store.list_actions("r1") == []
    assert store.logs("r1") == []
    assert store.list_attempts("r1") == []
    assert store.delete_run("r1") is False
    assert [ln.line for ln in store.logs("r2")] == ["y"]
    assert len(store.list_actions("r2")) == 3


def test_change_counter_bumps_on_writes_only(store: Any) -> None:
    c0 = store.change_counter()
    seed_run(store)
    c1 = store.change_counter()
    assert c1 > c0
    store.list_runs()
    store.get_run("r1")
    store.logs("r1")
    assert store.change_counter() == c1
    store.write([log_op("r1", "a0", "x")])
    c2 = store.change_counter()
    assert c2 > c1
    store.write([("run_update", "r1", {"phase": "SUCCEEDED"})])
    store.delete_run("r1")
    assert store.change_counter() > c2


def test_unknown_operation_is_rejected(store: Any) -> None:
    with pytest.raises(ValueError, match="bogus"):
        store.write([("bogus", {})])


def test_a_batch_is_atomic(store: Any) -> None:
    counter = store.change_counter()
    with pytest.raises(ValueError):
        store.write([("run_insert", run_row("half")), log_op("half", None, "x"), ("bogus", {})])
    assert store.get_run("half") is None
    assert store.logs("half") == []
    assert store.change_counter() == counter


def test_where_an_attempt_ran_says_queued_only_for_a_wait_worth_saying() -> None:
    from flyte._models import AttemptRecord

    def where(**placement: Any) -> str:
        record = AttemptRecord(run="r", action="a", attempt=1, phase=Phase.SUCCEEDED,
                               started_at=0.0, placement={"worker": "process", "pid": 7,
                                                          **placement})  # fmt: skip
        return record.where

    assert where(queued_s=0.01) == "worker 7"
    assert where(queued_s=1.25, peak_rss=3 * 2**20) == "worker 7 · peak 3Mi · queued 1.2s"


def test_reads_while_another_thread_records_never_fail(store: Any) -> None:
    """A notebook shows a live run (`run.record`, its attempts) while the engine's
    threads record it: a read that walked the memory store's dicts in Python failed with
    "dictionary changed size during iteration" when a write landed mid-walk."""
    import sys
    import threading

    store.write([("run_insert", run_row("live"))])
    done = threading.Event()
    errors: list[BaseException] = []

    def read() -> None:
        while not done.is_set():
            try:
                store.get_run("live")
                store.list_attempts("live")
                store.report_actions("live")
                store.successful_actions("live")
            except BaseException as exc:  # the failure under test
                errors.append(exc)
                return

    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(3000):
            store.write([("action_insert", action_row("live", f"x{i}", phase="SUCCEEDED",
                                                      attempts=1, outputs_json="1"))])  # fmt: skip
            if errors:
                break
    finally:
        done.set()
        reader.join(10)
        sys.setswitchinterval(before)
    assert not errors, repr(errors[0])
