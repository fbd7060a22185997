"""The run screen's rough edges: a store that fails while read, keys with nothing to act on."""

from __future__ import annotations

from typing import Any

import pytest
from test_app import SIZE, app_for, notified, open_run, select_action, tree_lines
from tui_helpers import wait_until

from flyte.errors import StoreError
from flyte_tui.screens import RunScreen
from flyte_tui.widgets import LogView


async def test_a_store_failing_while_the_run_is_read_is_a_notification(
    seeded_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = app_for(seeded_store)
    async with app.run_test(size=SIZE) as pilot:
        await open_run(pilot, app, "second-cached")
        shown = tree_lines(app)

        def failing(name: str) -> Any:
            raise StoreError("run store runs.db could not be read (disk I/O error)")

        monkeypatch.setattr(app.feed, "actions", failing)
        # The cheap fingerprint is read first (the actions only when it moved): it fails.
        monkeypatch.setattr(app.feed, "actions_version", failing)
        screen = app.screen
        assert isinstance(screen, RunScreen)
        screen.reload()
        await wait_until(pilot, lambda: notified(app, "could not be read (disk I/O error)"))
        # The screen stays, showing what it had.
        assert app.screen is screen and tree_lines(app) == shown


async def test_o_on_a_group_says_which_actions_have_a_report(seeded_store: Any) -> None:
    app = app_for(seeded_store)
    async with app.run_test(size=SIZE) as pilot:
        await open_run(pilot, app, "second-cached")
        await select_action(pilot, app, "▤ squares")
        await pilot.press("o")
        await wait_until(pilot, lambda: notified(app, "select an action that has a report"))


async def test_w_switches_the_logs_to_the_whole_run_and_back_to_the_action(
    seeded_store: Any,
) -> None:
    app = app_for(seeded_store, "second-cached")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(tree_lines(app)) > 3)
        logs = app.screen.query_one(LogView)
        await select_action(pilot, app, "square(x=3)")
        await wait_until(pilot, lambda: logs.shown == ["10:01:00   squaring 3"])
        await pilot.press("w")
        await wait_until(pilot, lambda: len(logs.shown) == 2)
        await pilot.press("w")  # back to the selected action's own lines
        await wait_until(pilot, lambda: logs.shown == ["10:01:00   squaring 3"])


async def test_a_store_failing_under_the_dashboard_is_a_notification_not_a_crash(
    seeded_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_app import running_run, table_rows

    running_run(seeded_store, "busy-run")
    app = app_for(seeded_store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: table_rows(app)[:1] == ["busy-run"])

        def broken(*args: Any, **kwargs: Any) -> Any:
            raise StoreError("run store runs.db could not be read (disk I/O error)")

        # The abort's write fails: said, and nothing else happens.
        monkeypatch.setattr(app.feed, "request_abort", broken)
        await pilot.press("a", "y")
        await wait_until(pilot, lambda: notified(app, "could not be read (disk I/O error)"))
        assert not seeded_store.abort_requested("busy-run")
        # The run it would abort ended meanwhile.
        monkeypatch.setattr(app.feed, "request_abort", lambda run: False)
        await pilot.press("a", "y")
        await wait_until(pilot, lambda: notified(app, "busy-run is not running"))
        # The change counter cannot be read: polling says so and goes on.
        monkeypatch.setattr(app.feed, "version", broken)
        app._notifications.clear()
        await wait_until(pilot, lambda: notified(app, "could not be read (disk I/O error)"))
        assert app.is_running


async def test_a_run_being_read_is_not_said_to_be_missing(
    seeded_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from flyte_tui.app import DashboardApp
    from flyte_tui.widgets import RunHeader

    release = threading.Event()
    app = DashboardApp(seeded_store, "first-success", poll_interval=0.05)
    run = app.feed.run

    def slow_run(name: str) -> Any:  # a big run: its first read takes a while
        release.wait(10)
        return run(name)

    monkeypatch.setattr(app.feed, "run", slow_run)
    async with app.run_test(size=(120, 36)) as pilot:
        header = app.screen.query_one(RunHeader)
        await pilot.pause()
        assert "Reading run first-success" in str(header.content)
        assert "appear" not in str(header.content)
        release.set()
        await wait_until(pilot, lambda: "first-success" in str(header.content)
                         and "Reading" not in str(header.content))  # fmt: skip


async def test_a_run_not_in_the_store_is_waited_for(seeded_store: Any) -> None:
    from flyte_tui.app import DashboardApp
    from flyte_tui.widgets import RunHeader

    app = DashboardApp(seeded_store, "no-such-run", poll_interval=0.05)
    async with app.run_test(size=(120, 36)) as pilot:
        header = app.screen.query_one(RunHeader)
        await wait_until(pilot, lambda: "Waiting for run no-such-run" in str(header.content))
