"""The dashboard left alone on an active run stays idle: a heartbeat re-reads nothing, the
clock relabels only what is on screen, a screen out of sight does not poll."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from tui_helpers import wait_until

from flyte._store.sqlite import SqliteRunStore
from flyte_tui.app import DashboardApp
from flyte_tui.screens import RunScreen
from flyte_tui.screens.runs import RunsScreen
from flyte_tui.widgets import ActionTree, RunHeader, RunTable

SIZE = (120, 36)


def seed_active_run(store: SqliteRunStore, *, done: int, running: int) -> None:
    """A RUNNING run (alive by its fresh heartbeat) with `done` finished and `running`
    running children under a running root."""
    now = time.time()
    ops: list[Any] = [
        (
            "run_insert",
            {
                "name": "active",
                "task": "fan.main",
                "phase": "RUNNING",
                "created_at": now,
                "started_at": now,
                "heartbeat": now,
            },
        ),
        (
            "action_insert",
            {"run": "active", "id": "a0", "name": "fan.main", "phase": "RUNNING",
             "attempts": 1, "started_at": now},
        ),
    ]  # fmt: skip
    for i in range(done + running):
        finished = i < done
        ops.append(
            (
                "action_insert",
                {
                    "run": "active",
                    "id": f"{i:012x}",
                    "parent": "a0",
                    "name": "fan.work",
                    "phase": "SUCCEEDED" if finished else "RUNNING",
                    "attempts": 1,
                    "started_at": now + i * 0.001,
                    "ended_at": now + i * 0.001 + 0.5 if finished else None,
                    "seq": i,
                },
            )
        )
    store.write(ops)


def _count_calls(monkeypatch: pytest.MonkeyPatch, obj: Any, name: str) -> list[Any]:
    """Record each call of `obj.name` (its first argument), still calling it."""
    calls: list[Any] = []
    original = getattr(obj, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0] if args else None)
        return original(*args, **kwargs)

    monkeypatch.setattr(obj, name, counted)
    return calls


async def test_a_heartbeat_does_not_reread_the_actions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteRunStore(tmp_path / "runs.db")
    seed_active_run(store, done=40, running=10)
    app = DashboardApp(store, "active", poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, RunScreen)
        header = screen.query_one(RunHeader)
        await wait_until(pilot, lambda: "done 40/51" in str(header.content))
        reads = _count_calls(monkeypatch, app.feed, "actions")
        changes = _count_calls(monkeypatch, app.feed, "changed_actions")
        loads = _count_calls(monkeypatch, screen, "_loaded")
        for _ in range(5):  # the driver's heartbeat: the change counter moves, no action
            seen = len(loads)
            store.write([("run_update", "active", {"heartbeat": time.time()})])
            await wait_until(pilot, lambda seen=seen: len(loads) > seen)  # type: ignore[misc]
        assert reads == [] and changes == []
        # An action that ends is read (and shown) at once.
        store.write(
            [("action_update", "active", f"{40:012x}", {"phase": "SUCCEEDED",
              "ended_at": time.time()})]
        )  # fmt: skip
        await wait_until(pilot, lambda: "done 41/51" in str(header.content))
        assert set(reads + changes) == {"active"}


async def test_the_clock_relabels_only_the_lines_on_screen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteRunStore(tmp_path / "runs.db")
    seed_active_run(store, done=0, running=250)  # few enough to open every node
    app = DashboardApp(store, "active", poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        tree = app.screen.query_one(ActionTree)
        await wait_until(pilot, lambda: tree.materialized() == 251)
        labelled = _count_calls(monkeypatch, tree, "action_label")
        tree.tick()
        height = tree.scrollable_content_region.height
        assert 0 < len(labelled) <= height < 250
        shown = {tree.get_node_at_line(i).data for i in range(height)}  # type: ignore[union-attr]
        assert {a.id for a in labelled} <= shown


async def test_the_run_list_does_not_poll_under_a_run_screen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteRunStore(tmp_path / "runs.db")
    seed_active_run(store, done=3, running=2)
    app = DashboardApp(store, poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        runs = app.screen
        assert isinstance(runs, RunsScreen)
        table = runs.query_one(RunTable)
        await wait_until(pilot, lambda: table.row_count == 1)  # enter needs the row
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen))
        run_screen = app.screen
        await wait_until(pilot, lambda: run_screen.model is not None)  # type: ignore[attr-defined]
        reloads = _count_calls(monkeypatch, runs, "reload")
        loads = _count_calls(monkeypatch, run_screen, "_loaded")
        for _ in range(3):
            seen = len(loads)
            store.write([("run_update", "active", {"heartbeat": time.time()})])
            await wait_until(pilot, lambda seen=seen: len(loads) > seen)  # type: ignore[misc]
        runs._tick()  # type: ignore[attr-defined]  # its clock: it re-reads active runs in view
        assert reloads == []
        await pilot.press("escape")
        await wait_until(pilot, lambda: len(reloads) >= 1)  # back in view: read again


def test_the_actions_version_moves_with_every_change_to_an_action(tmp_path: Path) -> None:
    from flyte.store import actions_version

    store = SqliteRunStore(tmp_path / "runs.db")
    seed_active_run(store, done=2, running=2)
    seen = [actions_version(store, "active")]

    def moved(op: Any) -> bool:
        store.write([op])
        seen.append(actions_version(store, "active"))
        return seen[-1] != seen[-2]

    assert not moved(("run_update", "active", {"heartbeat": time.time()}))
    running = f"{2:012x}"
    assert moved(("action_update", "active", running, {"attempts": 2}))  # a retry
    assert moved(("action_update", "active", running, {"cache_status": "hit"}))
    assert moved(("action_update", "active", running, {"phase": "FAILED"}))
    assert moved(("action_update", "active", running, {"ended_at": time.time()}))
    assert moved(
        ("action_insert", {"run": "active", "id": "new", "parent": "a0", "name": "fan.work"})
    )
    assert actions_version(store, "no-such-run") == (0, 0.0, 0.0, 0.0, *[None] * 8)


async def test_a_busy_run_is_read_by_its_changes_and_in_full_when_they_explain_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flyte_tui.screens import run_detail

    # No pauses between reads, and never a full read "to be sure": only what is needed.
    monkeypatch.setattr(run_detail, "_CHANGES_SHARE", 1.0)
    monkeypatch.setattr(run_detail, "_READ_SHARE", 1.0)
    monkeypatch.setattr(run_detail, "_FULL_SHARE", 1e-12)
    store = SqliteRunStore(tmp_path / "runs.db")
    seed_active_run(store, done=40, running=10)
    app = DashboardApp(store, "active", poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        header = app.screen.query_one(RunHeader)
        tree = app.screen.query_one(ActionTree)
        await wait_until(pilot, lambda: "done 40/51" in str(header.content))
        reads = _count_calls(monkeypatch, app.feed, "actions")
        now = time.time()
        store.write(
            [
                ("action_update", "active", f"{41:012x}", {"phase": "SUCCEEDED", "ended_at": now}),
                ("action_update", "active", f"{42:012x}", {"attempts": 2}),  # a retry
                ("action_insert", {"run": "active", "id": "late", "parent": "a0",
                                   "name": "fan.late", "phase": "RUNNING", "started_at": now}),
            ]
        )  # fmt: skip
        await wait_until(pilot, lambda: "done 41/52" in str(header.content))
        await wait_until(pilot, lambda: tree.model.actions[f"{42:012x}"].attempts == 2)
        assert "late" in tree.model.actions
        assert reads == []  # the new and the changed actions alone
        # An action that had ended changes (a trace recorded again): only a full read
        # sees it, and the fingerprint moved without a change to explain it.
        store.write(
            [("action_update", "active", f"{3:012x}", {"phase": "FAILED", "error_type": "Boom"})]
        )
        await wait_until(pilot, lambda: "failed 1" in str(header.content))
        assert reads == ["active"]


async def test_the_clock_tick_shows_the_new_duration_on_screen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flyte_tui._format

    store = SqliteRunStore(tmp_path / "runs.db")
    seed_active_run(store, done=0, running=3)
    started = store.get_action("active", "a0").started_at  # type: ignore[union-attr]
    clock = {"now": started + 3.0}
    monkeypatch.setattr(flyte_tui._format, "now", lambda: clock["now"])
    app = DashboardApp(store, "active", poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        tree = app.screen.query_one(ActionTree)
        await wait_until(pilot, lambda: tree.materialized() == 4)

        def root_line() -> str:
            return "".join(s.text for s in tree.render_line(0))

        await wait_until(pilot, lambda: "3.0s" in root_line())
        clock["now"] = started + 4.0  # same width: the line alone is repainted
        tree.tick()
        await wait_until(pilot, lambda: "4.0s" in root_line())
        clock["now"] = started + 65.0  # wider: the whole tree may change width
        tree.tick()
        await wait_until(pilot, lambda: "1m05s" in root_line())


async def test_a_failed_read_keeps_the_tree_on_screen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flyte.errors import StoreError

    store = SqliteRunStore(tmp_path / "runs.db")
    seed_active_run(store, done=3, running=2)
    app = DashboardApp(store, "active", poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        tree = app.screen.query_one(ActionTree)
        await wait_until(pilot, lambda: tree.materialized() == 6)
        failures = []

        def broken(run: str) -> Any:
            failures.append(run)
            raise StoreError("run store runs.db could not be read: disk I/O error")

        monkeypatch.setattr(app.feed, "actions_version", broken, raising=False)
        monkeypatch.setattr(app.feed, "actions", broken)
        store.write([("action_update", "active", f"{3:012x}", {"phase": "FAILED"})])
        await wait_until(
            pilot, lambda: "disk I/O error" in "".join(n.message for n in app._notifications)
        )
        await pilot.pause()
        assert failures == ["active"]
        assert tree.materialized() == 6 and len(tree.model.actions) == 6
