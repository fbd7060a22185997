"""Pilot tests: navigation, filters, details, logs and every key of the dashboard."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import pytest
from textual.widgets import Input, Select
from tui_helpers import wait_until

from flyte._models import Phase
from flyte_tui.app import DashboardApp
from flyte_tui.screens import RunScreen, RunsScreen
from flyte_tui.widgets import ActionTree, Details, LogView, RunHeader, RunTable

SIZE = (120, 36)


def app_for(store: Any, run: str | None = None, **kwargs: Any) -> DashboardApp:
    return DashboardApp(store, run, poll_interval=0.05, **kwargs)


def table_rows(app: DashboardApp) -> list[str]:
    table = app.screen.query_one(RunTable)
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


def tree_lines(app: DashboardApp) -> list[str]:
    tree = app.screen.query_one(ActionTree)
    lines = []
    for i in range(tree.last_line + 1):
        node = tree.get_node_at_line(i)
        if node is not None:
            lines.append(str(node.label))
    return lines


def details_text(app: DashboardApp) -> str:
    return app.screen.query_one(Details).plain()


def notified(app: DashboardApp, text: str) -> bool:
    """Whether a notification containing `text` is showing (notify() posts a message)."""
    return any(text in n.message for n in app._notifications)


def header_text(app: DashboardApp) -> str:
    return str(app.screen.query_one(RunHeader).content)


async def open_run(pilot: Any, app: DashboardApp, name: str) -> None:
    await wait_until(pilot, lambda: name in table_rows(app))
    table = app.screen.query_one(RunTable)
    table.move_cursor(row=table_rows(app).index(name))
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, RunScreen) and len(tree_lines(app)) > 0)


async def select_action(pilot: Any, app: DashboardApp, text: str) -> None:
    tree = app.screen.query_one(ActionTree)
    details = app.screen.query_one(Details)
    await wait_until(pilot, lambda: tree.cursor_node is not None)  # the initial placement
    for i in range(tree.last_line + 1):
        node = tree.get_node_at_line(i)
        if node is not None and text in str(node.label):
            tree.move_cursor(node)
            key = node.data
            if key is not None and key.startswith("group:"):
                await wait_until(
                    pilot, lambda: details.target is None and "Group" in details.plain()
                )
            else:
                await wait_until(
                    pilot,
                    lambda key=key: details.data is not None and details.data.action.id == key,
                )
            return
    raise AssertionError(f"no tree line contains {text!r}: {tree_lines(app)}")


async def test_runs_screen_lists_every_run_newest_first(seeded_store: Any) -> None:
    app = app_for(seeded_store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(table_rows(app)) == 3)
        assert table_rows(app) == ["third-failed", "second-cached", "first-success"]
        table = app.screen.query_one(RunTable)
        cached = [str(c) for c in table.get_row("second-cached")]
        assert cached == [
            "second-cached",
            "pipeline.main",
            "✓ SUCCEEDED",
            "10:01:00",
            "1.5s",
            "7 · 3 cached",
        ]
        assert "FAILED" in str(table.get_row("third-failed")[2])


async def test_filter_by_phase_task_and_name(seeded_store: Any) -> None:
    app = app_for(seeded_store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(table_rows(app)) == 3)
        phase: Select[str] = app.screen.query_one("#phase", Select)
        phase.value = "FAILED"
        await wait_until(pilot, lambda: table_rows(app) == ["third-failed"])
        phase.clear()
        await wait_until(pilot, lambda: len(table_rows(app)) == 3)
        task: Select[str] = app.screen.query_one("#task", Select)
        await wait_until(pilot, lambda: len(task._options) == 3)  # blank + two tasks
        task.value = "pipeline.main"
        await wait_until(pilot, lambda: table_rows(app) == ["second-cached", "first-success"])
        task.clear()
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"first")
        await wait_until(pilot, lambda: table_rows(app) == ["first-success"])
        await pilot.press("escape")
        assert isinstance(app.focused, RunTable)


async def test_run_screen_shows_groups_cache_hits_retries_and_replayed_traces(
    seeded_store: Any,
) -> None:
    app = app_for(seeded_store)
    async with app.run_test(size=SIZE) as pilot:
        await open_run(pilot, app, "second-cached")
        lines = tree_lines(app)
        assert lines[0].startswith("✓ main(n=4)")
        assert any(
            "▤ squares" in line and "4/4 done" in line and "3 cache hits" in line for line in lines
        )
        assert sum("  cache hit" in line for line in lines) == 3
        assert any("square(x=3)" in line and "cache miss" in line for line in lines)
        assert any("flaky(x=4)" in line and "2 attempts" in line for line in lines)
        # One vocabulary: a trace checkpoint is "replayed", and never shows attempts.
        assert any("load(x=4) trace" in line and "replayed" in line for line in lines)
        assert not any("load(x=4)" in line and "attempts" in line for line in lines)
        header = header_text(app)
        assert "running 0 · done 7/7 · failed 0 · cached 3" in header
        assert "replayed 1" in header and "traces 1" in header
        assert "recovered" not in header

        await select_action(pilot, app, "flaky(x=4)")
        text = details_text(app)
        assert "#1 ✗ FAILED" in text and "RuntimeError: transient failure" in text
        assert "#2 ✓ SUCCEEDED" in text
        assert "resources    cpu=1, memory=1Gi" in text and "retries      2" in text
        assert "env vars     STAGE=test" in text

        await select_action(pilot, app, "square(x=3)")
        text = details_text(app)
        assert "miss: ran and saved the outputs" in text and "why:" in text
        await select_action(pilot, app, "square(x=0)")
        assert "hit: outputs reused" in details_text(app)

        await select_action(pilot, app, "▤ squares")
        assert "Group squares" in details_text(app)
        assert "Group squares" in details_text(app)

        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


async def test_a_recovered_run_marks_reused_actions(seeded_store: Any) -> None:
    import tui_seed

    import flyte

    flyte.with_runcontext(
        store=seeded_store, echo=False, recover_from="first-success", name="recovered-run"
    ).run(tui_seed.main, n=4)  # squares 0-2 are reused, the rest runs
    app = app_for(seeded_store, "recovered-run")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "recovers first-success" in header_text(app))
        await wait_until(pilot, lambda: sum("  recovered" in line for line in tree_lines(app)) == 3)
        assert "recovered 3" in header_text(app)
        assert "replayed 1" in header_text(app)  # the trace replayed by the retry


async def test_failed_run_opens_on_the_failing_action_with_its_traceback(seeded_store: Any) -> None:
    app = app_for(seeded_store, "third-failed")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "cannot handle 7" in details_text(app))
        text = details_text(app)
        assert "pipeline.explode" in text and "Traceback (most recent call last)" in text
        assert 'raise ValueError(f"cannot handle {x}")' in text
        assert "ValueError: cannot handle 7" in header_text(app)
        await pilot.press("escape")  # the run list is beneath a run opened at launch
        assert isinstance(app.screen, RunsScreen)


async def test_logs_follow_the_selection_switch_scope_and_search(seeded_store: Any) -> None:
    app = app_for(seeded_store, "second-cached")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(tree_lines(app)) > 3)
        logs = app.screen.query_one(LogView)
        await select_action(pilot, app, "square(x=3)")
        await wait_until(pilot, lambda: logs.shown == ["10:01:00   squaring 3"])
        await pilot.press("w")  # whole run
        await wait_until(pilot, lambda: len(logs.shown) == 2)
        assert any("load(x=4)" in line and "loading 4" in line for line in logs.shown)
        await pilot.press("slash")
        await pilot.press(*"load")
        await wait_until(pilot, lambda: len(logs.shown) == 1)
        assert "loading 4" in logs.shown[0]
        await pilot.press("escape")  # clears the search, stays on the run screen
        await wait_until(pilot, lambda: len(logs.shown) == 2)
        assert isinstance(app.screen, RunScreen)
        await pilot.press("l")  # logs take the whole screen
        assert app.screen.has_class("-logs-open")
        assert not app.screen.query_one(ActionTree).display
        await pilot.press("l")
        assert app.screen.query_one(ActionTree).display


async def test_expand_shows_long_values_in_full(seeded_store: Any) -> None:
    import tui_seed

    import flyte

    flyte.with_runcontext(store=seeded_store, echo=False, name="long-values").run(
        tui_seed.main, n=40
    )
    app = app_for(seeded_store, "long-values")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "Outputs" in details_text(app))
        assert "(e: show all)" in details_text(app) and "..." in details_text(app)
        await pilot.press("e")
        await wait_until(pilot, lambda: "(e: collapse)" in details_text(app))
        assert "1521" in details_text(app)  # 39 * 39, the last square


async def test_logs_key_on_the_run_list_opens_whole_run_logs(seeded_store: Any) -> None:
    app = app_for(seeded_store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(table_rows(app)) == 3)
        await pilot.press("down", "l")
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen))
        logs = app.screen.query_one(LogView)
        assert app.screen.has_class("-logs-open")
        await wait_until(pilot, lambda: len(logs.shown) == 2)
        assert logs.target == ("second-cached", None)


class FakePopen:
    """Records the command; exits with `code` at once."""

    calls: list[tuple[list[str], dict[str, Any]]] = []
    code: int | None = 0

    def __init__(self, argv: list[str], **kwargs: Any) -> None:
        FakePopen.calls.append((argv, kwargs))
        self.pid = 4242

    def poll(self) -> int | None:
        return FakePopen.code


@pytest.fixture
def fake_popen(monkeypatch: pytest.MonkeyPatch) -> type[FakePopen]:
    FakePopen.calls = []
    FakePopen.code = 0
    monkeypatch.setattr(subprocess, "Popen", FakePopen)
    return FakePopen


async def test_rerun_and_recover_spawn_a_detached_cli_process(
    seeded_store: Any, fake_popen: type[FakePopen]
) -> None:
    app = app_for(seeded_store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(table_rows(app)) == 3)
        await pilot.press("down", "r")
        await open_run(pilot, app, "third-failed")
        await pilot.press("R")
        await wait_until(pilot, lambda: len(fake_popen.calls) == 2)
    (rerun, kwargs), (recover, _) = fake_popen.calls
    assert rerun == [sys.executable, "-m", "flyte_cli", "rerun", "second-cached"]
    assert recover == [sys.executable, "-m", "flyte_cli", "rerun", "third-failed", "--recover"]
    assert kwargs["start_new_session"] is True
    assert kwargs["env"]["FLYTE_STORE"] == seeded_store.path


async def test_a_failing_rerun_is_reported_not_raised(
    seeded_store: Any, fake_popen: type[FakePopen]
) -> None:
    fake_popen.code = None  # still running
    app = app_for(seeded_store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(table_rows(app)) == 3)
        await pilot.press("r")
        spawned = app.spawned[0]
        spawned.stderr.write(b"Traceback...\nError: no such run\n")
        fake_popen.code = 2  # a usage error, not a failed run
        await wait_until(pilot, lambda: not app.spawned)
        await wait_until(pilot, lambda: notified(app, "failed: Error: no such run"))


async def test_rerun_needs_a_store_file(fake_popen: type[FakePopen]) -> None:
    from flyte._store.memory import MemoryRunStore

    store = MemoryRunStore()
    store.write(
        [
            (
                "run_insert",
                {"name": "mem-run", "task": "t.main", "phase": "SUCCEEDED", "created_at": 1.0},
            )
        ]
    )
    app = app_for(store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: table_rows(app) == ["mem-run"])
        await pilot.press("r")
        await wait_until(pilot, lambda: notified(app, "in memory"))
        assert fake_popen.calls == []


def running_run(store: Any, name: str, pid: int | None = None) -> None:
    now = time.time()
    store.write(
        [
            (
                "run_insert",
                {
                    "name": name,
                    "task": "pipeline.main",
                    "phase": "RUNNING",
                    "created_at": now,
                    "started_at": now,
                    "pid": pid if pid is not None else os.getpid(),
                    "host": __import__("socket").gethostname(),
                    "heartbeat": now,
                },
            ),
            (
                "action_insert",
                {
                    "run": name,
                    "id": "a0",
                    "name": "pipeline.main",
                    "phase": "RUNNING",
                    "started_at": now,
                },
            ),
        ]
    )


async def test_abort_flags_the_selected_run(seeded_store: Any) -> None:
    running_run(seeded_store, "busy-run")
    app = app_for(seeded_store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: table_rows(app)[:1] == ["busy-run"])
        await pilot.press("a", "y")  # abort asks first
        await wait_until(pilot, lambda: seeded_store.abort_requested("busy-run"))
        await pilot.press("down", "a", "y")  # a finished run: a warning, nothing else
        await wait_until(pilot, lambda: notified(app, "is not running"))
        assert not seeded_store.abort_requested("third-failed")


async def test_a_run_whose_driver_died_shows_as_interrupted(seeded_store: Any) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    running_run(seeded_store, "orphan-run", pid=dead.pid)
    app = app_for(seeded_store, "orphan-run")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "ABORTED (interrupted)" in header_text(app))
        assert "died" in header_text(app)


async def test_copy_follow_and_quit_keys(seeded_store: Any) -> None:
    app = app_for(seeded_store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(table_rows(app)) == 3)
        await pilot.press("down", "c")
        assert app.clipboard == "second-cached"
        assert app.follow is False
        await pilot.press("f")
        assert app.follow is True
        running_run(seeded_store, "newest-run")  # follow keeps the cursor on the newest run
        await wait_until(pilot, lambda: app.screen.query_one(RunTable).selected_run == "newest-run")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen))
        await wait_until(pilot, lambda: "[following]" in header_text(app))
        await pilot.press("c")
        assert app.clipboard == "newest-run"
        await pilot.press("q")
    assert app.return_code == 0


async def test_footer_lists_the_keys(seeded_store: Any) -> None:
    app = app_for(seeded_store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(table_rows(app)) == 3)
        shown = {
            b.binding.description for b in app.screen.active_bindings.values() if b.binding.show
        }
        # The footer keeps to the keys used most, so it fits 80 columns; `?` lists all.
        assert shown == {"Open", "Search", "Logs", "Abort", "Keys", "Quit"}
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen))
        shown = {
            b.binding.description for b in app.screen.active_bindings.values() if b.binding.show
        }
        assert shown == {"Runs", "Logs", "Search", "Abort", "Keys", "Quit"}


def test_launch_runs_the_app_and_names_the_extra_when_textual_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import flyte_tui

    seen: dict[str, Any] = {}

    def fake_run(self: DashboardApp) -> None:
        seen.update(run=self.run_name, follow=self.follow, latest=self.follow_latest)

    from flyte._store.memory import MemoryRunStore

    store = MemoryRunStore()
    monkeypatch.setattr(DashboardApp, "run", fake_run)
    flyte_tui.launch(store, "some-run")
    assert seen == {"run": "some-run", "follow": False, "latest": False}
    flyte_tui.launch(store, follow_latest=True)
    assert seen == {"run": None, "follow": True, "latest": True}

    monkeypatch.setitem(sys.modules, "flyte_tui.app", None)
    with pytest.raises(ImportError, match=r"flyte-local\[tui\]"):
        flyte_tui.launch(store)


def test_phase_of_records_is_an_enum(seeded_store: Any) -> None:
    assert seeded_store.get_run("third-failed").phase is Phase.FAILED
