"""The dashboard's model (flyte_tui.data) and formatting, without Textual."""

from __future__ import annotations

import dataclasses
from typing import Any

from flyte._models import ActionKind, ActionRecord, CacheStatus, Phase
from flyte_tui import _format
from flyte_tui.data import ROOT, Counts, RunActions, RunFeed, group_key


def action(id: str, parent: str | None = "a0", **fields: Any) -> ActionRecord:
    return ActionRecord(run="r", id=id, parent=parent, name=f"env.{id}", **fields)


def test_update_reports_added_then_only_changed_actions() -> None:
    model = RunActions("r")
    root = action("a0", None, phase=Phase.RUNNING, started_at=1.0)
    first = model.update([root, action("b", started_at=2.0)])
    assert [a.id for a in first.added] == ["a0", "b"]
    assert model.children[ROOT] == ["a0"] and model.children["a0"] == ["b"]

    done = dataclasses.replace(root, phase=Phase.SUCCEEDED, ended_at=3.0)
    second = model.update([done, action("b", started_at=2.0)])
    assert second.added == [] and [a.id for a in second.changed] == ["a0"]
    assert model.update([done, action("b", started_at=2.0)]).empty


def test_groups_become_containers_under_their_parent() -> None:
    model = RunActions("r")
    diff = model.update(
        [
            action("a0", None, started_at=1.0),
            action("s1", group="squares", started_at=2.0, cache_status=CacheStatus.HIT),
            action("s2", group="squares", started_at=3.0, phase=Phase.RUNNING),
            action("t1", parent="s1", kind=ActionKind.TRACE, recovered=True, started_at=4.0),
        ]
    )
    key = group_key("a0", "squares")
    assert model.children["a0"] == [key]
    assert model.children[key] == ["s1", "s2"]
    assert model.children["s1"] == ["t1"]
    assert diff.groups == [key]
    assert model.path_to("t1") == [ROOT, "a0", key, "s1"]
    assert model.group_counts(key) == Counts(total=2, queued=1, running=1, cached=1)
    assert model.counts.traces == 1 and model.counts.replayed == 1
    assert model.counts.recovered == 0  # a replayed trace is not a recovered task
    assert model.newest_running() is not None and model.newest_running().id == "s2"  # type: ignore[union-attr]


def test_removed_actions_reset_the_model() -> None:
    model = RunActions("r")
    model.update([action("a0", None), action("b")])
    diff = model.update([action("a0", None)])
    assert diff.removed == ["b"] and len(model) == 0


def test_queued_children_sort_after_started_siblings() -> None:
    model = RunActions("r")
    model.update([action("a0", None, started_at=1.0), action("q"), action("s", started_at=2.0)])
    assert model.children["a0"] == ["s", "q"]


def test_formatting(frozen: float) -> None:
    assert _format.duration(None) == ""
    assert _format.duration(0.0123) == "12ms"
    assert _format.duration(3.44) == "3.4s"
    assert _format.duration(125) == "2m05s"
    assert _format.duration(3725) == "1h02m"
    assert _format.elapsed(frozen - 2, None) == 2
    assert _format.clock(frozen) == "11:00:00"
    assert _format.clock(frozen - 86_400 * 3) == "Dec 29 11:00"
    assert _format.inputs_preview('{"x": 3, "name": "a"}') == 'x=3, name="a"'
    assert _format.inputs_preview('{"s": "' + "y" * 50 + '"}', width=10) == 's="yyyyyy…'
    assert _format.parse_json("not json") == "not json"
    assert _format.phase_class(Phase.TIMED_OUT) == "timed-out"


def test_feed_reads_runs_actions_details_and_logs(seeded_store: Any) -> None:
    feed = RunFeed(seeded_store)
    assert [r.name for r in feed.runs()] == ["third-failed", "second-cached", "first-success"]
    assert [r.name for r in feed.runs(phase="FAILED")] == ["third-failed"]
    assert [r.name for r in feed.runs(search="cached")] == ["second-cached"]
    assert feed.newest_run() is not None and feed.newest_run().name == "third-failed"  # type: ignore[union-attr]
    actions = {
        a.name: a for a in feed.actions("second-cached") if a.cache_status is CacheStatus.WRITTEN
    }
    written = actions["pipeline.square"]
    details = feed.details("second-cached", written.id)
    assert details is not None
    assert details.cache_parts is not None and "code_version" in details.cache_parts
    assert details.cache_reasons, details.cache_explanation
    assert feed.details("second-cached", "nope") is None
    assert any("loading" in line.line for line in feed.logs("second-cached", None))
    version = feed.version()
    assert feed.request_abort("third-failed") is False
    assert feed.version() == version
