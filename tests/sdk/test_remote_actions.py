"""`flyte.remote.Action` in upstream's shape and `Run.get_report` (upstream's remote_management)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

import flyte
import flyte.models
import flyte.remote
import flyte.report
from flyte import Phase
from flyte.errors import ReportNotFoundError

env = flyte.TaskEnvironment("remote_actions")


@env.task(report=True)
def child(i: int) -> int:
    flyte.report.get_tab("Child").log(f"<p>child {i}</p>")
    return i


@env.task
def parent(n: int) -> int:
    return sum(flyte.map(child, range(n)))


def test_actions_listed_with_upstream_names_and_filters(store: Any) -> None:
    run = flyte.run(parent, 2)
    actions = flyte.remote.Action.listall(for_run_name=run.name)
    assert actions[0].name == "a0"
    assert sorted(a.task_name for a in actions) == [
        "remote_actions.child",
        "remote_actions.child",
        "remote_actions.parent",
    ]
    children = flyte.remote.Action.listall(for_run_name=run.name, parent_name="a0")
    assert {a.task_name for a in children} == {"remote_actions.child"}
    done = flyte.remote.Action.listall(for_run_name=run.name, in_phase=[Phase.SUCCEEDED])
    assert len(done) == 3
    assert flyte.remote.Action.listall(for_run_name=run.name, in_phase=["failed"]) == []
    upstream_phase = [flyte.models.ActionPhase.SUCCEEDED]
    assert len(flyte.remote.Action.listall(for_run_name=run.name, in_phase=upstream_phase)) == 3
    html = children[0].get_report()
    assert html.startswith("<!doctype html>") and "<p>child " in html


def test_a_missing_report_is_a_clear_error(store: Any) -> None:
    run = flyte.run(parent, 1)
    with pytest.raises(ReportNotFoundError, match="No report is available for action 'a0'"):
        run.get_report()


@dataclasses.dataclass
class Point:
    x: int
    y: int


point_env = flyte.TaskEnvironment("remote_points")


@point_env.task
def norm1(p: Point, z: int = 0) -> int:
    return abs(p.x) + abs(p.y) + z


@env.task
def calls_deployed(x: int) -> int:
    # As upstream's reference_tasks: the caller passes a dict for the dataclass input.
    deployed = flyte.remote.Task.get("remote_points.norm1", auto_version="latest")
    return deployed(p={"x": x, "y": -2}, z=1)


def test_a_deployed_task_called_with_a_dict_gets_its_dataclass(store: Any) -> None:
    flyte.deploy(point_env)
    assert flyte.run(calls_deployed, 3).outputs()[0] == 6


@env.task
async def slow_root(n: int) -> int:
    import asyncio

    await asyncio.sleep(0.3)
    return n


def test_run_action_is_the_root_and_can_be_awaited(store: Any) -> None:
    import asyncio

    run = flyte.with_runcontext(echo=False).start(slow_root, 5)
    action = run.action
    assert action.name == "a0" and action.task_name == "remote_actions.slow_root"
    asyncio.run(asyncio.wait_for(action.wait(), 30))
    assert action.done() and action.phase is Phase.SUCCEEDED
    assert run.outputs()[0] == 5
