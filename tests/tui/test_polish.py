"""The rough edges a new user hit in the dashboard (issue 15), each pinned by a test."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input
from tui_helpers import wait_until

from flyte_tui.app import DashboardApp
from flyte_tui.widgets import RunTable


def _app(store: Any) -> DashboardApp:
    app = DashboardApp(store, poll_interval=0.05)
    app.store_label = "runs.db"
    return app


async def test_fast_typing_after_clearing_the_search_keeps_every_key(seeded_store: Any) -> None:
    app = _app(seeded_store)
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one(RunTable)
        await wait_until(pilot, lambda: table.row_count == 3)
        await pilot.press("slash", *"first")
        await wait_until(pilot, lambda: table.row_count == 1)
        await pilot.press(*["backspace"] * 20)
        await pilot.press(*"abcdefghijklmnop")
        search = app.screen.query_one("#search", Input)
        await pilot.pause(0.3)
        assert search.value == "abcdefghijklmnop"
        assert search.has_focus


async def test_typing_before_the_first_load_then_clearing(seeded_store: Any) -> None:
    app = _app(seeded_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("slash", *"zz")
        await pilot.press(*["backspace"] * 20)
        await pilot.press(*"abcdefghijklmnop")
        search = app.screen.query_one("#search", Input)
        await pilot.pause(0.5)
        assert search.value == "abcdefghijklmnop"
        assert search.has_focus
