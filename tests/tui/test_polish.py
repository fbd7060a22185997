"""The rough edges a new user hit in the dashboard (issue 15), each pinned by a test."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import pytest
import tui_seed
from rich.console import Console
from textual import events
from textual.widgets import Input, Static
from tui_helpers import FROZEN_NOW, wait_until

import flyte
from flyte import _present
from flyte._models import ActionKind, Phase
from flyte._store.sqlite import SqliteRunStore
from flyte_cli._output import segments_text
from flyte_tui import _format
from flyte_tui.app import DashboardApp
from flyte_tui.data import ROOT, RunActions, group_key
from flyte_tui.screens import ConfirmScreen, KeysScreen, RunScreen, RunsScreen
from flyte_tui.widgets import ActionTree, Details, RunHeader, RunTable

SIZE = (120, 36)


def _app(store: Any, run: str | None = None) -> DashboardApp:
    app = DashboardApp(store, run, poll_interval=0.05)
    app.store_label = "runs.db"
    return app


def _rows(app: DashboardApp) -> list[str]:
    return list(app.screen.query_one(RunTable)._order)


# -- 1. filtering never loses input nor races the list -------------------------------------


def _type_fast(app: DashboardApp, text: str) -> None:
    """Send keys as a terminal delivers fast typing: all queued before any is handled."""
    from textual.keys import _character_to_key

    assert app._driver is not None
    for char in text:
        event = events.Key(_character_to_key(char), char)
        event.set_sender(app)
        app._driver.send_message(event)


async def test_fast_typing_after_clearing_the_search_keeps_every_key(seeded_store: Any) -> None:
    app = _app(seeded_store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(_rows(app)) == 3)
        await pilot.press("slash", *"first")
        await wait_until(pilot, lambda: _rows(app) == ["first-success"])
        await pilot.press(*["backspace"] * 20, *"abcdefghijklmnop")
        search = app.screen.query_one("#search", Input)
        await wait_until(pilot, lambda: _rows(app) == [])
        assert search.value == "abcdefghijklmnop" and search.has_focus


async def test_keys_typed_right_after_slash_all_reach_the_search_box(seeded_store: Any) -> None:
    app = _app(seeded_store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(_rows(app)) == 3)
        # As a terminal delivers fast typing: every key queued before any is handled.
        _type_fast(app, "/nothing-like-this")
        search = app.screen.query_one("#search", Input)
        await wait_until(pilot, lambda: search.value == "nothing-like-this")
        assert isinstance(app.screen, RunsScreen)  # `l` did not open the logs
        await wait_until(pilot, lambda: _rows(app) == [])
        await pilot.press("escape")
        _type_fast(app, "/first")
        await wait_until(pilot, lambda: _rows(app) == ["first-success"])
        assert search.value == "first"


async def test_enter_on_a_stale_list_opens_the_run_that_matches_the_search(
    seeded_store: Any,
) -> None:
    app = _app(seeded_store)
    release = threading.Event()
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: _rows(app)[:1] == ["third-failed"])
        runs = app.feed.runs

        def slow_runs(**filters: Any) -> Any:
            if filters.get("search"):
                release.wait(10)  # the store is slow: the list lags behind the typing
            return runs(**filters)

        app.feed.runs = slow_runs  # type: ignore[method-assign]
        await pilot.press("slash", *"first")
        app.screen.query_one(RunTable).focus()
        await pilot.press("enter")  # on the highlighted row of the old list: third-failed
        await pilot.pause(0.1)
        assert isinstance(app.screen, RunsScreen)  # nothing opened from a stale row
        release.set()
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen))
        assert app.screen.run_name == "first-success"


async def test_enter_in_the_search_box_moves_to_the_results(seeded_store: Any) -> None:
    app = _app(seeded_store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(_rows(app)) == 3)
        await pilot.press("slash", *"second", "enter")
        table = app.screen.query_one(RunTable)
        await wait_until(pilot, lambda: table.has_focus and _rows(app) == ["second-cached"])
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen))
        assert app.screen.run_name == "second-cached"


# -- 9. search, escape, help, j/k, confirmation ---------------------------------------------


async def test_escape_clears_the_search_and_search_matches_task_names(seeded_store: Any) -> None:
    app = _app(seeded_store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(_rows(app)) == 3)
        await pilot.press("slash", *"failing")  # the task pipeline.failing, not a run name
        await wait_until(pilot, lambda: _rows(app) == ["third-failed"])
        await pilot.press("escape")
        assert app.screen.query_one("#search", Input).value == ""
        assert app.screen.query_one(RunTable).has_focus
        await wait_until(pilot, lambda: len(_rows(app)) == 3)


async def test_question_mark_lists_every_key_and_j_k_move(seeded_store: Any) -> None:
    app = _app(seeded_store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(_rows(app)) == 3)
        table = app.screen.query_one(RunTable)
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("k")
        assert table.cursor_row == 1
        await pilot.press("question_mark")
        assert isinstance(app.screen, KeysScreen)
        console = Console(width=100, record=True, file=io.StringIO())
        console.print(app.screen.query_one("#keys-table", Static).content)
        shown = console.export_text()
        for words in ("Rerun, reusing what succeeded", "Copy the run's name", "Down"):
            assert words in shown
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


async def test_abort_asks_first(seeded_store: Any) -> None:
    from test_app import running_run

    running_run(seeded_store, "busy-run")
    app = _app(seeded_store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: _rows(app)[:1] == ["busy-run"])
        await pilot.press("a")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause(0.2)
        assert not seeded_store.abort_requested("busy-run")
        await pilot.press("a", "y")
        await wait_until(pilot, lambda: seeded_store.abort_requested("busy-run"))


# -- 4. the CLI and the TUI say the same thing ----------------------------------------------


async def test_cli_and_tui_label_every_action_alike(seeded_store: Any) -> None:
    app = _app(seeded_store, "second-cached")
    async with app.run_test(size=SIZE) as pilot:
        tree = app.screen.query_one(ActionTree)
        await wait_until(pilot, lambda: len(tree.model) == 7)
        for action in seeded_store.list_actions("second-cached"):
            cli = segments_text(_present.action_segments(action, now=FROZEN_NOW)).plain
            assert tree.action_label(action).plain == cli
        # ... in the same order: call order.
        ordered = sorted(seeded_store.list_actions("second-cached"), key=_present.call_order)
        squares = [a.id for a in ordered if a.name.endswith("square")]
        assert tree.model.children[group_key("a0", "squares")] == squares


def test_one_duration_format_and_one_icon_set() -> None:
    from flyte_cli._output import fmt_duration, phase_text

    assert _format.duration(0.0123) == fmt_duration(0.0123) == "12ms"
    assert _format.duration(3.41) == fmt_duration(3.41) == "3.4s"
    for phase in Phase:
        assert phase_text(phase).plain.startswith(_format.PHASE_ICONS[phase])


# -- 5. nested groups nest ------------------------------------------------------------------


def test_nested_groups_nest_in_the_model() -> None:
    from test_data import action

    model = RunActions("r")
    model.update(
        [
            action("a0", None, started_at=1.0),
            action("x", group="outer", started_at=2.0),
            action("y", group="outer/inner", started_at=3.0),
            action("z", group="outer/inner/innermost", started_at=4.0),
        ]
    )
    outer, inner = group_key("a0", "outer"), group_key("a0", "outer/inner")
    innermost = group_key("a0", "outer/inner/innermost")
    assert model.children["a0"] == [outer]
    assert model.children[outer] == ["x", inner]
    assert model.children[inner] == ["y", innermost]
    assert model.children[innermost] == ["z"]
    assert model.path_to("z") == [ROOT, "a0", outer, inner, innermost]
    assert model.group_counts(outer).total == 3  # nested members count in the outer group


# -- 7. traces: one vocabulary ----------------------------------------------------------------


def test_a_trace_never_shows_attempts() -> None:
    from test_data import action

    trace = action("t", parent="a0", kind=ActionKind.TRACE, recovered=True, started_at=1.0)
    trace.attempts = 2  # the attempt of its task it ran in
    text = "".join(part for part, _ in _present.action_segments(trace, now=2.0))
    assert "attempt" not in text and "replayed" in text


# -- 8. one clock for a running action ------------------------------------------------------


@pytest.fixture
def gate() -> Any:
    tui_seed.gate.clear()
    yield tui_seed.gate
    tui_seed.gate.set()


async def test_a_running_action_shows_one_duration_everywhere(
    tmp_path: Path, gate: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteRunStore(tmp_path / "runs.db")
    run = flyte.with_runcontext(store=store, echo=False, name="ticking").start(
        tui_seed.slow_fanout, n=1
    )
    clock = {"now": 0.0}
    monkeypatch.setattr(_format, "now", lambda: clock["now"])
    app = _app(store, "ticking")
    async with app.run_test(size=SIZE) as pilot:
        tree = app.screen.query_one(ActionTree)
        await wait_until(pilot, lambda: "a0" in tree.model.actions)
        root = tree.model.actions["a0"]
        assert root.started_at is not None
        clock["now"] = root.started_at + 5.0
        details = app.screen.query_one(Details)
        header = app.screen.query_one(RunHeader)
        await wait_until(pilot, lambda: details.data is not None and details.data.action.id == "a0")
        await wait_until(pilot, lambda: "5.0s" in details.plain())  # the details tick too
        clock["now"] = root.started_at + 7.0
        await wait_until(pilot, lambda: "7.0s" in details.plain())
        node_label = tree._by_key["a0"].label.plain
        assert "7.0s" in node_label and "7.0s" in str(header.content)
    gate.set()
    run.wait(timeout=30)


async def test_slash_inside_the_log_search_box_is_a_character(seeded_store: Any) -> None:
    app = _app(seeded_store, "second-cached")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.screen.query_one(ActionTree).cursor_node is not None)
        await pilot.press("slash", *"a/b")
        await wait_until(pilot, lambda: app.screen.query_one("#log-search", Input).value == "a/b")
