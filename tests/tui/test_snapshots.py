"""Snapshots of the dashboard at a fixed size over a seeded, time-frozen store.

Regenerate after an intended change with `pytest tests/tui --snapshot-update`, then look
at the report: every snapshot is reviewed by a human before it is committed.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot
from tui_helpers import wait_until

from flyte_tui.app import DashboardApp
from flyte_tui.screens import RunScreen
from flyte_tui.widgets import ActionTree, Details, LogView, RunTable

SIZE = (120, 36)


def make_app(store: Any, run: str | None = None) -> DashboardApp:
    app = DashboardApp(store, run, poll_interval=0.05)
    app.store_label = "runs.db"  # the real path is a fresh temporary directory
    return app


async def _select(pilot: Pilot[None], text: str) -> None:
    tree = pilot.app.screen.query_one(ActionTree)
    details = pilot.app.screen.query_one(Details)
    await wait_until(pilot, lambda: tree.cursor_node is not None)  # the initial placement
    for line in range(tree.last_line + 1):
        node = tree.get_node_at_line(line)
        if node is not None and text in str(node.label):
            tree.move_cursor(node)
            key = node.data
            await wait_until(
                pilot, lambda key=key: details.data is not None and details.data.action.id == key
            )
            return
    raise AssertionError(f"no tree line contains {text!r}")


def test_runs_screen(snap_compare: Any, seeded_store: Any) -> None:
    async def loaded(pilot: Pilot[None]) -> None:
        await wait_until(pilot, lambda: pilot.app.screen.query_one(RunTable).row_count == 3)

    assert snap_compare(make_app(seeded_store), terminal_size=SIZE, run_before=loaded)


def test_run_screen_with_cache_hits_retries_and_replayed_trace(
    snap_compare: Any, seeded_store: Any
) -> None:
    async def flaky_selected(pilot: Pilot[None]) -> None:
        await wait_until(
            pilot, lambda: pilot.app.screen.query_one(ActionTree).cursor_node is not None
        )
        await _select(pilot, "flaky(x=4)")
        logs = pilot.app.screen.query_one(LogView)
        await wait_until(pilot, lambda: logs.target == ("second-cached", "eef5b46df5e9"))
        await wait_until(pilot, lambda: len(logs.shown) == 1)  # what its trace printed

    app = make_app(seeded_store, "second-cached")
    assert snap_compare(app, terminal_size=SIZE, run_before=flaky_selected)


def test_failed_run_shows_the_traceback(snap_compare: Any, seeded_store: Any) -> None:
    async def failure_shown(pilot: Pilot[None]) -> None:
        details = pilot.app.screen.query_one(Details)
        await wait_until(pilot, lambda: "cannot handle 7" in details.plain())

    assert snap_compare(
        make_app(seeded_store, "third-failed"), terminal_size=SIZE, run_before=failure_shown
    )


def test_whole_run_logs_with_search(snap_compare: Any, seeded_store: Any) -> None:
    async def searched(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, DashboardApp)
        await wait_until(pilot, lambda: app.screen.query_one(RunTable).row_count == 3)
        app.open_run("second-cached", logs=True)
        await wait_until(
            pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.query(LogView)
        )
        logs = app.screen.query_one(LogView)
        await wait_until(pilot, lambda: len(logs.shown) == 2)
        await pilot.press("slash", *"squar", "enter")
        await wait_until(pilot, lambda: len(logs.shown) == 1)

    assert snap_compare(make_app(seeded_store), terminal_size=SIZE, run_before=searched)


# -- the two screens a new user sees first, at the smallest and a large terminal -----------

SIZES = {"80x24": (80, 24), "200x50": (200, 50)}


@pytest.mark.parametrize("size", list(SIZES))
def test_runs_list_at_size(snap_compare: Any, seeded_store: Any, size: str) -> None:
    async def loaded(pilot: Pilot[None]) -> None:
        await wait_until(pilot, lambda: pilot.app.screen.query_one(RunTable).row_count == 3)

    assert snap_compare(make_app(seeded_store), terminal_size=SIZES[size], run_before=loaded)


@pytest.mark.parametrize("size", list(SIZES))
def test_run_screen_at_size(snap_compare: Any, seeded_store: Any, size: str) -> None:
    async def flaky_selected(pilot: Pilot[None]) -> None:
        await _select(pilot, "flaky(x=4)")
        logs = pilot.app.screen.query_one(LogView)
        await wait_until(pilot, lambda: len(logs.shown) == 1)

    app = make_app(seeded_store, "second-cached")
    assert snap_compare(app, terminal_size=SIZES[size], run_before=flaky_selected)
