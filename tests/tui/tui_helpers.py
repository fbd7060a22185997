"""Helpers for the dashboard tests: seeding, normalizing, waiting for the UI."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tui_seed

BASE = 1_767_261_600.0  # 2026-01-01 10:00:00 UTC
FROZEN_NOW = BASE + 3600.0
REPO = str(Path(__file__).resolve().parents[2])


async def wait_until(pilot: Any, condition: Callable[[], object], timeout: float = 30.0) -> None:
    """Let the app run until `condition()` is true; fail after `timeout` seconds.

    A widget the condition queries may not be mounted yet (a screen was just pushed):
    NoMatches counts as "not yet".
    """
    from textual.css.query import NoMatches

    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except NoMatches:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition}")
        await pilot.pause(0.02)


def normalize(path: str) -> None:
    """Rewrite the time-dependent columns of a seeded store with fixed values.

    Runs get one minute each from BASE (in creation order), actions 10 ms steps from
    their run's start, attempts and log lines follow; tracebacks lose the checkout path.
    """
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    runs = [r[0] for r in conn.execute("SELECT name FROM runs ORDER BY created_at")]
    for i, run in enumerate(runs):
        start = BASE + 60.0 * i
        conn.execute(
            "UPDATE runs SET created_at = ?, started_at = ?, heartbeat = ?, "
            "ended_at = CASE WHEN ended_at IS NULL THEN NULL ELSE ? END, "
            "traceback = replace(traceback, ?, '') WHERE name = ?",
            (start, start, start, start + 1.5, REPO + "/", run),
        )
        actions = conn.execute(
            "SELECT id FROM actions WHERE run = ? ORDER BY started_at, seq, id", (run,)
        ).fetchall()
        for k, (action,) in enumerate(actions):
            at = start + 0.01 * k
            conn.execute(
                "UPDATE actions SET started_at = ?, "
                "ended_at = CASE WHEN ended_at IS NULL THEN NULL ELSE ? END, "
                "traceback = replace(traceback, ?, '') WHERE run = ? AND id = ?",
                (at, at + 0.25, REPO + "/", run, action),
            )
            conn.execute(
                "UPDATE attempts SET started_at = ? + 0.05 * attempt, "
                "ended_at = CASE WHEN ended_at IS NULL THEN NULL ELSE ? + 0.05 * attempt + 0.02 END "
                "WHERE run = ? AND action = ?",
                (at, at, run, action),
            )
        conn.execute("UPDATE logs SET ts = ? + 0.001 * seq WHERE run = ?", (start, run))
    conn.execute("UPDATE cache SET created_at = ?", (BASE,))
    conn.execute("UPDATE changes SET counter = counter + 1 WHERE id = 1")
    conn.execute("COMMIT")
    conn.close()


def seed(store: Any) -> None:
    """Three real runs: a success with retries and traces, a cached rerun, a failure."""
    import flyte

    def ctx(name: str) -> Any:
        return flyte.with_runcontext(store=store, echo=False, raise_on_failure=False, name=name)

    ctx("first-success").run(tui_seed.main, n=3)
    ctx("second-cached").run(tui_seed.main, n=4)
    ctx("third-failed").run(tui_seed.failing)
    for name, phase in (("first-success", "SUCCEEDED"), ("second-cached", "SUCCEEDED")):
        run = store.get_run(name)
        assert run.phase.value == phase, (name, run.error_type, run.error_message, run.traceback)
