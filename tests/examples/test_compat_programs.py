"""Upstream Flyte 2 programs and the seed's programs run unchanged through `python file.py`.

Each program runs in its own process with an isolated FLYTE_HOME; the test checks the exit
code, the value the program prints (noted in its header) and the runs left in the store.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from flyte._models import Phase
from flyte._store.sqlite import SqliteRunStore

TESTS = Path(__file__).resolve().parent.parent
COMPAT = TESTS / "compat" / "programs"
SEED = Path(__file__).resolve().parent / "seed_programs"


def first_output(line: str) -> Any:
    """The first output in a printed `run.outputs()`: `(42,)` here, `ActionOutputs(o0=42)` upstream."""
    line = line.strip()
    m = re.fullmatch(r"ActionOutputs\(o0=(.*?)(?:, o1=.*)?\)", line)
    if m:
        return ast.literal_eval(m.group(1))
    value = ast.literal_eval(line)
    assert isinstance(value, tuple), f"run.outputs() should print tuple-like, got {line!r}"
    return value[0]


def output_lines(stdout: str) -> list[Any]:
    """Every printed `run.outputs()` in order (lines that look like a tuple of outputs)."""
    found = []
    for line in stdout.splitlines():
        s = line.strip()
        if s.startswith("ActionOutputs(") or (s.startswith("(") and s.endswith(")")):
            try:
                found.append(first_output(s))
            except (ValueError, SyntaxError):
                continue
    return found


@dataclass
class Program:
    path: Path
    outputs: list[Any]  # first output of each run, in order
    runs: int = 1
    args: tuple[str, ...] = ()
    also: list[str] = field(default_factory=list)  # substrings stdout must contain
    check: Callable[[list[Any]], None] | None = None
    actions: int | None = None  # actions recorded per run, when the program pins it
    err_also: list[str] = field(default_factory=list)  # substrings stderr must contain
    store_check: Callable[[SqliteRunStore], None] | None = None


def _hello_v2(outputs: list[Any]) -> None:
    (greetings,) = outputs
    assert len(greetings) == 3
    for i, text in zip((1, 2, 3), greetings, strict=True):
        assert text.startswith(f"hello, my id is: {i} and I am being run by Action: ")


def _reports_stored(store: SqliteRunStore) -> None:
    (run,) = store.list_runs()
    by_name = {a.name: a.id for a in store.list_actions(run.name)}
    streaming = store.get_report(run.name, by_name["reports_compat.streaming"])
    assert streaming is not None and list(streaming.tabs) == ["main", "Details"]
    assert (
        streaming.tabs["main"].startswith("<h1>Progress</h1>")
        and "step 2" in streaming.tabs["main"]
    )
    sync = store.get_report(run.name, by_name["reports_compat.sync_report"])
    assert sync is not None and sync.tabs == {
        "main": "<b>hello report</b>",
        "Raw": "<pre>raw</pre>",
    }


def _cluster_settings_recorded(store: SqliteRunStore) -> None:
    (run,) = store.list_runs()
    actions = {a.name: a for a in store.list_actions(run.name)}
    square = actions["cluster_compat.square"].settings
    assert square["cluster_only"]["queue"] == "critical"
    assert square["cluster_only"]["triggers"][0]["automation"] == "Cron('0 * * * *', UTC)"
    assert square["timeouts"] == {"max_runtime": 30.0, "max_queued_time": 300.0, "deadline": None}
    assert square["entrypoint"] is True and square["resources"]["gpu"] == "A100 80G:8"
    assert actions["gpu_compat.on_gpu"].settings["resources"]["gpu"] == "H100:2 (1g.10gb)"
    slow = actions["cluster_compat.too_slow"]
    assert slow.phase is Phase.TIMED_OUT and slow.attempts == 1  # past the deadline: no retry


def _logger_captured(store: SqliteRunStore) -> None:
    (run,) = store.list_runs()
    lines = [line.line for line in store.logs(run.name) if line.stream == "log"]
    assert lines.count(f"INFO child sees run {run.name}") == 2
    assert "WARNING main starts" in lines


def _blocking_map_tree(store: SqliteRunStore) -> None:
    (run,) = store.list_runs()
    actions = store.list_actions(run.name)
    ids = {a.name: a.id for a in actions}
    steps = [a for a in actions if a.name == "blocking_map_compat.step"]
    # The map's calls are children of the body that made them, in the map's group.
    assert sorted(a.parent for a in steps) == sorted(
        [ids["blocking_map_compat.fan_out"]] * 5 + [ids["blocking_map_workers.in_worker"]] * 3
    )
    assert sum(a.group == "step_map" for a in steps) == 7
    (trace,) = [a for a in actions if a.name == "total"]
    assert trace.parent == ids["blocking_map_compat.fan_out"]


PROGRAMS = [
    Program(COMPAT / "hello.py", [14.0]),
    Program(COMPAT / "hello_v2.py", [], check=_hello_v2),
    Program(
        COMPAT / "conditional_map_caching.py",
        ["Received 20/20 results. Sum = 2470"],
        args=("all-succeed",),
    ),
    Program(
        COMPAT / "conditional_map_caching.py",
        ["Received 8/10 results. Sum = 240"],
        args=("partial-fail",),
        also=["Cached parent failed (2/10 child tasks failed)"],
    ),
    Program(COMPAT / "custom_context.py", [33]),
    Program(
        COMPAT / "exception_handling.py",
        [42],
        also=["Caught exception: This always fails 1", ", ValueError"],
    ),
    Program(COMPAT / "forward_tasks.py", [12, 12], runs=2),
    Program(COMPAT / "grouping.py", [[0, 4, 8, 12, 16, 2, 6, 10, 14, 18]]),
    Program(COMPAT / "map_tasks.py", [[f"Task {i}" for i in range(10)]] * 3, runs=3),
    Program(COMPAT / "map_with_partials.py", [None], also=["Caught expected TypeError"]),
    Program(
        COMPAT / "retry_and_timeout.py",
        ["ok after 3 attempts / done"],
        also=["hopeless surfaced as: NonRecoverableError"],
    ),
    Program(COMPAT / "side_effect_traces.py", [30], also=["Square 4", "Bool val: False"]),
    Program(COMPAT / "trace_sync.py", [600]),
    Program(COMPAT / "reports_tabs.py", ["report:3"], store_check=_reports_stored),
    Program(COMPAT / "durable_time.py", [True]),
    Program(
        COMPAT / "timeouts_devices_cluster.py",
        ["18 deadline: TaskTimeoutError"],
        err_also=["flyte: note: queue= is recorded; it only takes effect on a Flyte cluster"],
        store_check=_cluster_settings_recorded,
    ),
    Program(
        COMPAT / "context_and_logger.py",
        ["local:1:ml local/development"],
        also=["True"],
        err_also=["INFO child sees run"],
        store_check=_logger_captured,
    ),
    Program(COMPAT / "dict_inputs.py", ["select 1/10/[] nightly/5 q2/1"]),
    Program(COMPAT / "unawaited_handle.py", [42]),
    Program(
        COMPAT / "app_serving.py",
        [42],
        also=["deployed App local-multiply", "static status 200", "static stopped True"],
        err_also=["flyte: note: deploying app 'local-multiply' is recorded"],
    ),
    Program(
        COMPAT / "blocking_map_in_async.py",
        [
            " / ".join(
                [f"step {i} done" for i in range(5)]
                + ["16", "19"]
                + [f"step {i} done" for i in range(3)]
            )
        ],
        store_check=_blocking_map_tree,
    ),
    Program(COMPAT / "storage_models_errors.py", ["stored ValueError"]),
    Program(SEED / "hello_sync.py", ["Done"], actions=11),
    Program(SEED / "hello_async.py", ["Done"], actions=11),
    Program(SEED / "trace_and_finalize.py", ["ANSWER TO: WHY?!"], actions=3),
]

XFAIL: dict[str, str] = {}


def _id(p: Program) -> str:
    return p.path.stem + ("-" + "-".join(p.args) if p.args else "")


def test_every_compat_program_is_covered() -> None:
    covered = {p.path.name for p in PROGRAMS if p.path.parent == COMPAT}
    assert covered == {f.name for f in COMPAT.glob("*.py")}


@pytest.mark.parametrize("program", PROGRAMS, ids=_id)
def test_program_runs_unchanged(
    program: Program, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    reason = XFAIL.get(program.path.name)
    if reason:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLYTE_")}
    env["FLYTE_HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.run(
        [sys.executable, str(program.path), *program.args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    outputs = output_lines(proc.stdout)
    if program.check is not None:
        program.check(outputs)
    else:
        assert outputs == program.outputs, proc.stdout
    for text in program.also:
        assert text in proc.stdout, proc.stdout
    for text in program.err_also:
        assert text in proc.stderr, proc.stderr
    assert "dry-run" not in proc.stdout
    # Every run is recorded durably in $FLYTE_HOME/runs.db.
    store = SqliteRunStore(home / "runs.db")
    runs = store.list_runs(limit=None)
    assert len(runs) == program.runs
    assert all(r.phase is Phase.SUCCEEDED for r in runs), [(r.name, r.phase) for r in runs]
    for r in runs:
        assert all(a.phase.is_terminal for a in store.list_actions(r.name))
        if program.actions is not None:
            assert r.action_count == program.actions
    if program.store_check is not None:
        program.store_check(store)
