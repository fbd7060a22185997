"""`flyte.remote.Action` in upstream's shape and `Run.get_report` (upstream's remote_management)."""

from __future__ import annotations

from typing import Any

import pytest

import flyte
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
    html = children[0].get_report()
    assert html.startswith("<!doctype html>") and "<p>child " in html


def test_a_missing_report_is_a_clear_error(store: Any) -> None:
    run = flyte.run(parent, 1)
    with pytest.raises(ReportNotFoundError, match="No report is available for action 'a0'"):
        run.get_report()
