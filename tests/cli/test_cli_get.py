"""`flyte get runs | run | actions | io | tasks | cache`: tables for people, JSON for scripts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cli_helpers import Invoke, error_line


@pytest.fixture
def runs(flyte: Invoke) -> dict[str, Any]:
    """A succeeded hello run and a failed run, by kind."""
    ok = json.loads(flyte("run", "--json", "examples/hello.py", "main", "--name", "Ada").stdout)
    bad = json.loads(flyte("run", "--json", "examples/failing.py", "main").stdout)
    return {"ok": ok, "bad": bad}


def test_get_runs_table_and_json(flyte: Invoke, runs: dict[str, Any]) -> None:
    table = flyte("get", "runs")
    assert table.exit_code == 0
    assert runs["ok"]["run"] in table.stdout and runs["bad"]["run"] in table.stdout
    assert "hello.main" in table.stdout and "FAILED" in table.stdout
    data = json.loads(flyte("get", "runs", "--json").stdout)
    assert [r["name"] for r in data] == [runs["bad"]["run"], runs["ok"]["run"]]  # newest first
    assert data[1]["outputs"] == "Hello, Ada!" and data[1]["inputs"] == {
        "name": "Ada",
        "friends": 2,
    }


def test_get_runs_filters(flyte: Invoke, runs: dict[str, Any]) -> None:
    def names(*args: str) -> list[str]:
        result = flyte("get", "runs", "--json", *args)
        assert result.exit_code == 0, result.output
        return [r["name"] for r in json.loads(result.stdout)]

    assert names("--phase", "failed") == [runs["bad"]["run"]]
    assert names("--task", "hello.main") == [runs["ok"]["run"]]
    assert names("--task", "main") == [runs["bad"]["run"], runs["ok"]["run"]]
    assert names("--limit", "1") == [runs["bad"]["run"]]
    assert len(names("--since", "1h")) == 2
    assert names("--since", "2000-01-01") != []
    assert names("--search", runs["ok"]["run"][:-2]) == [runs["ok"]["run"]]
    assert "unknown phase 'done'" in error_line(flyte("get", "runs", "--phase", "done"))
    assert "not a duration" in error_line(flyte("get", "runs", "--since", "yesterday"))


def test_no_runs_yet(flyte: Invoke) -> None:
    assert "No runs yet" in flyte("get", "runs").stdout
    assert json.loads(flyte("get", "runs", "--json").stdout) == []


def test_get_run(flyte: Invoke, runs: dict[str, Any]) -> None:
    name = runs["bad"]["run"]
    text = flyte("get", "run", name).stdout
    assert name in text and "failing.main" in text and "ValueError: cannot divide by zero" in text
    assert "Traceback" in text  # the stored user traceback
    data = json.loads(flyte("get", "run", name, "--json").stdout)
    assert data["phase"] == "FAILED" and data["inputs"] == {"a": 1, "b": 0}
    line = error_line(flyte("get", "run", name[:-1]))
    assert "did you mean" in line and f"'{name}'" in line


def test_get_actions_tree_and_json(flyte: Invoke, runs: dict[str, Any]) -> None:
    name = runs["ok"]["run"]
    tree = flyte("get", "actions", name)
    assert tree.exit_code == 0
    assert tree.stdout.count("say_hello(name=") == 3 and "main(name=" in tree.stdout
    assert " a0 " in tree.stdout  # `get actions` shows the ids other commands take
    data = json.loads(flyte("get", "actions", name, "--json").stdout)
    assert len(data) == 4
    root = next(a for a in data if a["parent"] is None)
    assert root["id"] == "a0" and root["outputs"] == "Hello, Ada!"
    assert {a["parent"] for a in data if a["id"] != "a0"} == {"a0"}


def test_big_fan_out_is_summarised(flyte: Invoke, write: Any) -> None:
    path = write(
        "fanout_demo.py",
        """
        import asyncio
        import flyte
        env = flyte.TaskEnvironment("fanout")

        @env.task
        async def leaf(i: int) -> int:
            return i

        @env.task
        async def main(n: int = 60) -> int:
            return sum(await asyncio.gather(*(leaf(i) for i in range(n))))
        """,
    )
    run = json.loads(flyte("run", "--json", path, "main").stdout)["run"]
    tree = flyte("get", "actions", run).stdout
    assert tree.count("leaf(i=") == 20
    # In call order: the first 20 calls, then a line counting the rest.
    shown = [
        int(line.split("leaf(i=")[1].split(")")[0]) for line in tree.splitlines() if "leaf(" in line
    ]
    assert shown == list(range(20))
    assert tree.rstrip().endswith("… 40 more  40 ✓")
    assert flyte("get", "actions", run, "--all").stdout.count("leaf(i=") == 60


def test_get_io_of_run_and_action(flyte: Invoke, runs: dict[str, Any]) -> None:
    name = runs["ok"]["run"]
    data = json.loads(flyte("get", "io", name, "--json").stdout)
    assert data["inputs"] == {"name": "Ada", "friends": 2} and data["outputs"] == "Hello, Ada!"
    actions = json.loads(flyte("get", "actions", name, "--json").stdout)
    leaf = next(a for a in actions if a["inputs"] == {"name": "friend 1"})
    by_id = json.loads(flyte("get", "io", name, leaf["id"][:6], "--json").stdout)
    assert by_id["action"] == leaf["id"] and by_id["outputs"] == "Hello, friend 1!"
    text = flyte("get", "io", name, leaf["id"]).stdout
    assert '"name": "friend 1"' in text and "Hello, friend 1!" in text
    line = error_line(flyte("get", "io", name, "say_hello"))
    assert "matches 3 actions" in line
    assert "no action 'nope'" in error_line(flyte("get", "io", name, "nope"))
    failed = json.loads(flyte("get", "io", runs["bad"]["run"], "divide", "--json").stdout)
    assert failed["error"] == "ValueError: cannot divide by zero"


def test_get_tasks(flyte: Invoke) -> None:
    assert "No deployed tasks" in flyte("get", "tasks").stdout
    flyte("deploy", "examples/hello.py", "--version", "v7")
    table = flyte("get", "tasks").stdout
    assert "hello.main" in table and "v7" in table and "name: str" in table
    data = json.loads(flyte("get", "tasks", "--json").stdout)
    assert {(t["name"], t["version"]) for t in data} == {
        ("hello.main", "v7"),
        ("hello.say_hello", "v7"),
    }


def test_get_cache_and_explain(flyte: Invoke) -> None:
    first = json.loads(flyte("run", "--json", "examples/pipeline.py", "main", "--n", "4").stdout)
    first_time = flyte("get", "cache", "--explain", "load", "--run", first["run"]).stdout
    assert "first run" in first_time
    entries = json.loads(flyte("get", "cache", "--json").stdout)
    assert {e["task"] for e in entries} == {
        "pipeline.load",
        "pipeline.transform",
        "pipeline.summarize",
    }
    only = json.loads(flyte("get", "cache", "--task", "pipeline.load", "--json").stdout)
    assert [e["task"] for e in only] == ["pipeline.load"]
    assert "pipeline.transform" in flyte("get", "cache").stdout
    second = json.loads(flyte("run", "--json", "examples/pipeline.py", "main", "--n", "4").stdout)
    hit = json.loads(
        flyte("get", "cache", "--explain", "load", "--run", second["run"], "--json").stdout
    )
    assert hit["hit"] is True and hit["task"] == "pipeline.load"
    third = json.loads(flyte("run", "--json", "examples/pipeline.py", "main", "--n", "5").stdout)
    text = flyte("get", "cache", "--explain", "load").stdout  # default: the newest run
    assert third["run"] in text and "cache miss" in text and "input" in text
    assert "caching is disabled" in flyte("get", "cache", "--explain", "main").stdout
