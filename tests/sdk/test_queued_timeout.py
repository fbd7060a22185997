"""`flyte.Timeout(max_queued_time=...)`: an attempt waiting in the queue (QUEUED) too long.

Process workers queue an attempt while other attempts hold the CPUs or memory it asks
for; past its max_queued_time it fails TIMED_OUT with TaskTimeoutError, never started.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
import queue_tasks as qt

import flyte
from flyte import Phase

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="process workers need fork")


def test_an_attempt_queued_past_max_queued_time_times_out(store: Any, tmp_path: Path) -> None:
    run = flyte.run(qt.hog_then_queue, str(tmp_path))
    held, outcome = run.outputs()[0]
    assert held == "held"
    assert outcome == (
        "TaskTimeoutError: queue_whole.must_start_soon waited in the queue longer than its "
        f"max_queued_time of 0.3s (for cpu={qt.CPUS}, memory=0Mi that other tasks held) and "
        "was not started; raise max_queued_time or lower its Resources"
    )
    (late,) = [a for a in run.actions() if a.name == "queue_whole.must_start_soon"]
    assert late.phase is Phase.TIMED_OUT
    assert late.attempts == 2  # per attempt, as upstream: the retry queued too
    attempts = [a for a in run.store.list_attempts(run.name) if a.action == late.id]
    assert [a.phase for a in attempts] == [Phase.TIMED_OUT, Phase.TIMED_OUT]
    assert "was not started" in (late.error_message or "")


def test_an_attempt_that_starts_within_max_queued_time_runs(store: Any, tmp_path: Path) -> None:
    run = flyte.with_runcontext(echo=False).start(qt.hog_then_queue, str(tmp_path), patient=True)

    def queued() -> bool:
        return any(
            a.name == "queue_whole.may_wait" and a.phase is Phase.QUEUED for a in run.actions()
        )

    deadline = time.monotonic() + 30
    while not queued() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert queued()
    (tmp_path / "release").touch()
    run.wait(timeout=30)
    assert run.outputs()[0] == ["held", "started"]


def test_waiting_for_a_busy_reusable_worker_counts_as_queued(store: Any, tmp_path: Path) -> None:
    run = flyte.run(qt.hog_the_worker, str(tmp_path))
    held, outcome = run.outputs()[0]
    assert held == "held"
    assert outcome == (
        "TaskTimeoutError: queue_one_worker.needs_the_worker waited in the queue longer than "
        "its max_queued_time of 0.3s (all 1 workers of its reusable environment were busy) "
        "and was not started; raise max_queued_time or the replicas"
    )
    (late,) = [a for a in run.actions() if a.name == "queue_one_worker.needs_the_worker"]
    assert late.phase is Phase.TIMED_OUT
