"""A read that finishes while its screen is being removed is dropped, never an error.

The run screen loads in a worker thread. Its result can arrive after the screen's widgets
were removed (the app exiting, or the screen popped) but before its workers are
cancelled: applying it then queried an ActionTree that was gone (`NoMatches`), which
failed the worker and, while the app still ran, the app. The test holds the read until
the screen's body unmounts, then lets it finish, so the window is hit every time.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import pytest
from textual.containers import Horizontal
from textual.widget import Widget
from tui_helpers import wait_until

from flyte_tui.app import DashboardApp
from flyte_tui.screens import RunScreen

SIZE = (120, 36)


async def test_a_run_read_finishing_as_the_app_exits_is_dropped(
    seeded_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = DashboardApp(seeded_store, "first-success", poll_interval=0.05)
    release = threading.Event()  # lets the held read return
    handed = threading.Event()  # the worker handed its result to the UI

    def at_unmount(self: Widget) -> None:
        # The body of the run screen (tree, details, logs) is being removed: finish the
        # read now, and wait until its result was handed over before removal goes on.
        if self.id == "run-body":
            release.set()
            handed.wait(5)

    monkeypatch.setattr(Horizontal, "on_unmount", at_unmount, raising=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, RunScreen)
        await wait_until(pilot, lambda: screen.record is not None)
        actions = app.feed.actions

        def held_actions(name: str) -> Any:
            release.wait(10)
            return actions(name)

        call_from_thread = app.call_from_thread
        post_message = screen.post_message

        def spy_call(callback: Any, *args: Any, **kwargs: Any) -> Any:
            if getattr(callback, "__name__", "") == "_loaded":
                handed.set()
            return call_from_thread(callback, *args, **kwargs)

        def spy_post(message: Any) -> bool:
            if type(message).__name__ == "Loaded":
                handed.set()
            return post_message(message)

        loaded = screen._loaded
        failures: list[BaseException] = []

        @functools.wraps(loaded)
        def watched_loaded(*args: Any) -> None:
            try:
                loaded(*args)
            except Exception as exc:  # what the app would have failed with
                failures.append(exc)
                raise

        monkeypatch.setattr(screen, "_loaded", watched_loaded)
        monkeypatch.setattr(app.feed, "actions", held_actions)
        monkeypatch.setattr(app, "call_from_thread", spy_call)
        monkeypatch.setattr(screen, "post_message", spy_post)
        screen.reload()  # held in the store read until the app exits
    assert release.is_set() and handed.is_set(), "the read did not finish during teardown"
    assert failures == []


async def test_a_run_list_read_finishing_as_the_app_exits_is_dropped(
    seeded_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flyte_tui.screens import RunsScreen
    from flyte_tui.widgets import RunTable

    app = DashboardApp(seeded_store, None, poll_interval=0.05)
    release = threading.Event()
    handed = threading.Event()

    def at_unmount(self: Widget) -> None:
        if self.id == "run-table":  # the list is going: finish the read now
            release.set()
            handed.wait(5)

    monkeypatch.setattr(RunTable, "on_unmount", at_unmount, raising=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        await wait_until(pilot, lambda: screen._shown is not None)
        runs = app.feed.runs

        def held_runs(**filters: Any) -> Any:
            release.wait(10)
            return runs(**filters)

        call_from_thread = app.call_from_thread
        post_message = screen.post_message

        def spy_call(callback: Any, *args: Any, **kwargs: Any) -> Any:
            if getattr(callback, "__name__", "") == "_loaded":
                handed.set()
            return call_from_thread(callback, *args, **kwargs)

        def spy_post(message: Any) -> bool:
            if type(message).__name__ == "Loaded":
                handed.set()
            return post_message(message)

        loaded = screen._loaded
        failures: list[BaseException] = []

        @functools.wraps(loaded)
        def watched_loaded(*args: Any) -> None:
            try:
                loaded(*args)
            except Exception as exc:
                failures.append(exc)
                raise

        monkeypatch.setattr(screen, "_loaded", watched_loaded)
        monkeypatch.setattr(app.feed, "runs", held_runs)
        monkeypatch.setattr(app, "call_from_thread", spy_call)
        monkeypatch.setattr(screen, "post_message", spy_post)
        screen.reload()
    assert release.is_set() and handed.is_set(), "the read did not finish during teardown"
    assert failures == []
