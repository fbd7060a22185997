"""The dashboard while runs progress: a real run in this process, writes from elsewhere,
abort from the TUI, and a 10,000-action run that must stay responsive."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tui_seed
from tui_helpers import wait_until

import flyte
from flyte._models import Phase
from flyte._store.sqlite import SqliteRunStore
from flyte_tui.app import DashboardApp
from flyte_tui.screens import RunScreen
from flyte_tui.widgets import ActionTree, LogView, RunHeader, RunTable
from flyte_tui.widgets.action_tree import PAGE

SIZE = (120, 36)


def tree_lines(app: DashboardApp) -> list[str]:
    tree = app.screen.query_one(ActionTree)
    return [
        str(node.label)
        for i in range(tree.last_line + 1)
        if (node := tree.get_node_at_line(i)) is not None
    ]


@pytest.fixture
def gate() -> Iterator[Any]:
    """The event `slow_step` tasks wait on; always released at the end."""
    tui_seed.gate.clear()
    yield tui_seed.gate
    tui_seed.gate.set()


async def test_tree_fills_in_while_a_real_run_progresses(tmp_path: Path, gate: Any) -> None:
    store = SqliteRunStore(tmp_path / "runs.db")
    app = DashboardApp(store, "live-run", poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        header = app.screen.query_one(RunHeader)
        await wait_until(pilot, lambda: "Waiting for run live-run" in str(header.content))
        run = flyte.with_runcontext(store=store, echo=False, name="live-run").start(
            tui_seed.slow_fanout, n=3
        )
        await wait_until(pilot, lambda: sum("● slow_step" in line for line in tree_lines(app)) == 3)
        assert tree_lines(app)[0].startswith("● slow_fanout(n=3)")
        assert "running 4 · done 0/4" in str(header.content)
        await pilot.press("w")  # whole-run logs follow the run
        logs = app.screen.query_one(LogView)
        await wait_until(pilot, lambda: sum("waiting" in line for line in logs.shown) == 3)

        gate.set()
        run.wait(timeout=30)
        await wait_until(pilot, lambda: sum("✓ slow_step" in line for line in tree_lines(app)) == 3)
        await wait_until(pilot, lambda: "SUCCEEDED" in str(header.content))
        assert "done 4/4" in str(header.content)
        await wait_until(pilot, lambda: sum("done" in line for line in logs.shown) == 3)


async def test_follow_moves_the_cursor_to_the_newest_running_action(
    tmp_path: Path, gate: Any
) -> None:
    store = SqliteRunStore(tmp_path / "runs.db")
    app = DashboardApp(store, "followed", poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f")
        flyte.with_runcontext(store=store, echo=False, name="followed").start(
            tui_seed.slow_fanout, n=2
        )
        tree = app.screen.query_one(ActionTree)
        await wait_until(
            pilot,
            lambda: tree.cursor_node is not None and "slow_step" in str(tree.cursor_node.label),
        )


async def test_watch_mode_jumps_to_each_newer_run(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "runs.db")
    app = DashboardApp(store, follow_latest=True, poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, RunScreen)
        header = app.screen.query_one(RunHeader)
        await wait_until(pilot, lambda: "Waiting for the first run" in str(header.content))
        ctx = flyte.with_runcontext(store=store, echo=False, raise_on_failure=False, name="watch-1")
        ctx.run(tui_seed.main, n=2)
        await wait_until(pilot, lambda: str(header.content).startswith("watch-1"))
        flyte.with_runcontext(store=store, echo=False, raise_on_failure=False, name="watch-2").run(
            tui_seed.failing
        )
        await wait_until(pilot, lambda: str(header.content).startswith("watch-2"))
        await wait_until(pilot, lambda: any("explode" in line for line in tree_lines(app)))


async def test_a_write_from_another_connection_shows_within_half_a_second(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "runs.db")
    other = SqliteRunStore(tmp_path / "runs.db")  # its own connection, as another process has
    app = DashboardApp(store)  # the default poll interval
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(RunTable)
        await pilot.pause(0.3)
        now = time.time()
        other.write(
            [
                (
                    "run_insert",
                    {
                        "name": "from-elsewhere",
                        "task": "x.main",
                        "phase": "SUCCEEDED",
                        "created_at": now,
                    },
                )
            ]
        )
        # Seen by polling alone (nothing refreshed by hand). "Within half a second" is the
        # poll interval's promise; wall-clock time under a loaded CI box is not asserted.
        assert app.poll_interval <= 0.5
        await wait_until(pilot, lambda: table.row_count == 1)


async def test_abort_from_the_tui_ends_the_run_aborted(tmp_path: Path, gate: Any) -> None:
    store = SqliteRunStore(tmp_path / "runs.db")
    run = flyte.with_runcontext(
        store=store, echo=False, raise_on_failure=False, name="to-abort"
    ).start(tui_seed.slow_fanout, n=2)
    app = DashboardApp(store, "to-abort", poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: sum("● slow_step" in line for line in tree_lines(app)) == 2)
        await pilot.press("a", "y")
        header = app.screen.query_one(RunHeader)
        await wait_until(pilot, lambda: "ABORTED" in str(header.content))
        assert store.get_run("to-abort").phase is Phase.ABORTED  # type: ignore[union-attr]
        assert not any("●" in line for line in tree_lines(app))
    gate.set()
    run.wait(timeout=30)


def seed_huge_run(store: SqliteRunStore, n: int = 10_000) -> None:
    """One run with `n` children of the root (half in a group), written in one batch."""
    start = time.time() - 60
    ops: list[Any] = [
        (
            "run_insert",
            {
                "name": "huge",
                "task": "fan.main",
                "phase": "SUCCEEDED",
                "created_at": start,
                "started_at": start,
                "ended_at": start + 30,
            },
        ),
        (
            "action_insert",
            {
                "run": "huge",
                "id": "a0",
                "name": "fan.main",
                "phase": "SUCCEEDED",
                "attempts": 1,
                "started_at": start,
                "ended_at": start + 30,
            },
        ),
    ]
    for i in range(n):
        ops.append(
            (
                "action_insert",
                {
                    "run": "huge",
                    "id": f"{i:012x}",
                    "parent": "a0",
                    "name": "fan.work",
                    "phase": "FAILED" if i == n - 1 else "SUCCEEDED",
                    "grp": "batch" if i % 2 else None,
                    "attempts": 1,
                    "cache_status": "hit" if i % 3 == 0 else "written",
                    "inputs_json": f'{{"i": {i}}}',
                    "outputs_json": str(i * 2),
                    "started_at": start + i * 0.001,
                    "ended_at": start + i * 0.001 + 0.5,
                    "seq": i,
                },
            )
        )
    store.write(ops)


async def test_a_10000_action_run_mounts_and_navigates_lazily(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "runs.db")
    seed_huge_run(store)
    app = DashboardApp(store, "huge", poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        tree = app.screen.query_one(ActionTree)
        header = app.screen.query_one(RunHeader)
        await wait_until(pilot, lambda: "done 10001/10001" in str(header.content))
        await wait_until(pilot, lambda: tree.cursor_node is not None)
        # Lazy: one page of the root's children and the (collapsed) group, not 10,000 nodes.
        assert tree.materialized() == PAGE + 1  # the root's first page and the group
        lines = tree_lines(app)
        assert any("▤ batch" in line and "5000/5000 done" in line for line in lines)
        assert lines[-1].startswith("… ") and "more" in lines[-1]

        await pilot.press("end")
        await pilot.press("enter")  # load the next page
        await wait_until(pilot, lambda: tree.materialized() == 2 * PAGE + 1)
        await pilot.press("down", "down", "pageup", "home")
        group = next(
            i for i in range(tree.last_line + 1) if "▤ batch" in str(tree.get_node_at_line(i).label)
        )  # type: ignore[union-attr]
        tree.move_cursor_to_line(group)
        await pilot.press("space")  # expand the 5,000-member group: one page of it
        await wait_until(pilot, lambda: tree.materialized() == 3 * PAGE + 1)

        # A change to one action updates one node, the tree is not rebuilt.
        store.write(
            [("action_update", "huge", f"{1:012x}", {"phase": "FAILED", "error_type": "Boom"})]
        )
        await wait_until(pilot, lambda: any("Boom" in line for line in tree_lines(app)))
