"""Fixtures for the dashboard tests: a store seeded by real runs, frozen in time."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tui_helpers import FROZEN_NOW, normalize, seed


@pytest.fixture(autouse=True)
def _bodies_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the seed's task bodies in this process.

    Its environment sets resources (shown by the detail pane), which would send bodies to
    process workers; `slow_step` waits on a threading.Event the live tests release.
    """
    monkeypatch.setenv("FLYTE_EXECUTOR", "inline")


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> Iterator[float]:
    """Freeze the dashboard's clock and time zone so durations and times are stable."""
    import flyte_tui._format

    old_tz = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    monkeypatch.setattr(flyte_tui._format, "now", lambda: FROZEN_NOW)
    yield FROZEN_NOW
    if old_tz is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old_tz
    time.tzset()


@pytest.fixture
def seeded_store(tmp_path: Path, frozen: float) -> Any:
    """A SQLite store with three real runs, normalized for snapshots."""
    from flyte._store.sqlite import SqliteRunStore

    store = SqliteRunStore(tmp_path / "runs.db")
    seed(store)
    normalize(store.path)
    return store
