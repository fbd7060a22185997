"""The Dask executor against a real two-worker LocalCluster(processes=True)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import dask_tasks as t
import pytest

import flyte
from flyte._models import Phase
from flyte.errors import InvalidOptionError


@pytest.fixture
def on_dask(dask_client: Any, sqlite_store: Any) -> Any:
    """Every body of the test's runs goes to the module's Dask cluster."""
    flyte.init(store=sqlite_store, executor=dask_client)
    return sqlite_store


def worker_pids(client: Any) -> set[int]:
    return set(client.run(os.getpid).values())


def tree(store: Any, run: str) -> list[tuple[str, str | None, str, str | None, str]]:
    return sorted(
        (a.id, a.parent, a.name, a.outputs_json, a.phase.value) for a in store.list_actions(run)
    )


def test_fan_out_runs_on_the_workers_with_the_same_outputs_and_tree(
    dask_client: Any, sqlite_store: Any
) -> None:
    local = flyte.with_runcontext(echo=False, executor="inline").run(t.fan_out, 20)
    flyte.init(store=sqlite_store, executor=dask_client)
    run = flyte.with_runcontext(echo=False).run(t.fan_out, 20)

    assert run.outputs()[0] == [i * i for i in range(20)] == local.outputs()[0]
    assert tree(sqlite_store, run.name) == tree(sqlite_store, local.name)
    attempts = sqlite_store.list_attempts(run.name)
    assert len(attempts) == 21
    pids = {a.placement["pid"] for a in attempts}
    assert {a.placement["worker"] for a in attempts} == {"dask"}
    assert os.getpid() not in pids
    assert pids <= worker_pids(dask_client)
    assert all(a.placement["address"].startswith("tcp://") for a in attempts)
    # What each body printed on its worker is in the store, under its own action.
    lines = [line.line for line in sqlite_store.logs(run.name)]
    assert len([line for line in lines if line.startswith("square(")]) == 20
    logged_pids = {int(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("square(")}
    assert logged_pids <= worker_pids(dask_client)


def test_a_task_on_a_worker_calls_another_task(on_dask: Any, dask_client: Any) -> None:
    run = flyte.with_runcontext(echo=False).run(t.parent, 41)
    value, parent_pid, child_pid = run.outputs()
    assert value == 42
    assert {parent_pid, child_pid} <= worker_pids(dask_client)
    actions = {a.name: a for a in on_dask.list_actions(run.name)}
    assert actions["dask_tests.child"].parent == "a0"
    assert actions["dask_tests.where"].parent == "a0"
    assert all(a.phase is Phase.SUCCEEDED for a in actions.values())
    logs = {(line.action, line.line) for line in on_dask.logs(run.name)}
    assert ("a0", "parent calls child with 41") in logs
    assert (actions["dask_tests.child"].id, "child got 41") in logs


def test_a_task_that_sigkills_its_worker_succeeds_on_retry(
    on_dask: Any, dask_client: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "killed-pid"
    run = flyte.with_runcontext(echo=False).run(t.kill_own_worker, str(marker))
    assert run.outputs()[0] == 40 + 2
    killed = int(marker.read_text())
    attempts = on_dask.list_attempts(run.name, "a0")
    assert [a.phase for a in attempts] == [Phase.FAILED, Phase.SUCCEEDED]
    first, second = attempts
    assert first.placement["pid"] == killed
    assert first.error_type == "RuntimeSystemError"
    assert f"(pid {killed})" in (first.error_message or "")
    assert "died mid-attempt" in (first.error_message or "")
    assert second.placement["pid"] != killed
    # The trace checkpoint recorded by the killed attempt is replayed by the retry.
    body_runs = [line for line in on_dask.logs(run.name) if "checkpoint body ran" in line.line]
    assert len(body_runs) == 1


def wait_for_file(path: Path, timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)


def test_timeout_stops_the_body_on_its_worker(on_dask: Any, tmp_path: Path) -> None:
    marker = tmp_path / "stopped"
    run = flyte.with_runcontext(echo=False).run(t.too_slow_parent, str(marker))
    assert run.outputs()[0] == "caught TaskTimeoutError"
    child = next(a for a in on_dask.list_actions(run.name) if a.name == "dask_tests.too_slow")
    assert child.phase is Phase.TIMED_OUT
    # The body (a 60 s loop) was interrupted on its worker, not left running there; under
    # a tracer (coverage) the engine lets it end on its own (see `raise_in_thread`).
    if sys.gettrace() is None:
        wait_for_file(marker)
    Path(f"{marker}.release").touch()


def test_file_values_cross_workers(on_dask: Any, dask_client: Any) -> None:
    run = flyte.with_runcontext(echo=False).run(t.file_roundtrip, "hello from a worker")
    content, reader_pid, parent_pid = run.outputs()
    assert content == "hello from a worker"
    assert {reader_pid, parent_pid} <= worker_pids(dask_client)


def test_declared_resources_are_enforced_the_others_recorded_with_a_note(on_dask: Any) -> None:
    run = flyte.with_runcontext(echo=False).run(t.with_resources)
    action = on_dask.get_action(run.name, "a0")
    assert action.settings["resources"] == {"cpu": 1, "memory": "100Mi", "gpu": 1}
    (attempt,) = on_dask.list_attempts(run.name, "a0")
    note = attempt.placement["note"]
    assert note.startswith("memory recorded, not enforced")  # cpu and gpu went to Dask
    logs = [line.line for line in on_dask.logs(run.name)]
    assert any("memory recorded, not enforced" in line for line in logs)
    # A request larger than any worker declares would wait forever in Dask: refused.
    with pytest.raises(InvalidOptionError, match=r"asks for cpu=64.*CPU=1"):
        flyte.with_runcontext(echo=False).run(t.too_big)


def test_init_refuses_an_executor_object_it_cannot_use() -> None:
    with pytest.raises(InvalidOptionError, match="executor"):
        flyte.init(executor=object())


DRIVER = """
import sys

import flyte

sys.path.insert(0, sys.argv[4])
import dask_tasks as t

flyte.init(executor=sys.argv[1])
flyte.with_runcontext(name=sys.argv[2], echo=False).run(t.steps, 6, sys.argv[3])
"""


def test_rerun_recover_of_a_run_interrupted_on_the_cluster_runs_only_unfinished_work(
    dask_cluster: Any, dask_client: Any, tmp_path: Path
) -> None:
    import signal
    import subprocess
    import sys
    import time

    from flyte._run import current_store

    markers = tmp_path / "markers"
    markers.mkdir()
    (markers / "hold").touch()  # step 3 blocks while this exists
    address = "dask://" + dask_cluster.scheduler_address.removeprefix("tcp://")
    name = "interrupted-on-dask"
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, address, name, str(markers), str(Path(t.__file__).parent)],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    store = current_store()
    deadline = time.monotonic() + 90
    try:
        while True:  # until steps 0-2 are recorded and step 3 runs on a worker
            done = [a for a in store.list_actions(name) if a.phase is Phase.SUCCEEDED]
            if len(done) == 3 and (markers / "step-3").exists():
                break
            assert driver.poll() is None, driver.stderr.read() if driver.stderr else ""
            assert time.monotonic() < deadline, "the driver did not reach step 3"
            time.sleep(0.05)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    (markers / "hold").unlink()
    assert store.get_run(name).phase is Phase.ABORTED  # its driver is gone

    flyte.init(executor=dask_client)
    run = flyte.rerun(name, recover=True)
    assert run.outputs()[0] == sum(range(6))
    runs = {i: (markers / f"step-{i}").read_text().count("ran") for i in range(6)}
    assert runs == {0: 1, 1: 1, 2: 1, 3: 2, 4: 1, 5: 1}
    recovered = sorted(
        json_input(a.inputs_json) for a in store.list_actions(run.name) if a.recovered
    )
    assert recovered == [0, 1, 2]


def json_input(inputs_json: str | None) -> int:
    import json

    return int(json.loads(inputs_json or "{}")["i"])


async def test_the_dashboard_shows_a_dask_run_like_any_other(
    dask_client: Any, sqlite_store: Any
) -> None:
    import asyncio
    import time

    from flyte_tui.app import DashboardApp
    from flyte_tui.screens import RunScreen
    from flyte_tui.widgets import ActionTree, LogView, RunTable

    flyte.init(store=sqlite_store, executor=dask_client)
    # The run blocks; the dashboard's test loop must not, so it runs in a thread.
    run = await asyncio.to_thread(lambda: flyte.with_runcontext(echo=False).run(t.parent, 1))
    app = DashboardApp(sqlite_store, None, poll_interval=0.05)

    async def until(condition: Any) -> None:
        deadline = time.monotonic() + 15
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {condition}"
            await pilot.pause(0.02)

    def rows() -> list[str]:
        table = app.screen.query_one(RunTable)
        return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]

    def lines() -> list[str]:
        tree = app.screen.query_one(ActionTree)
        nodes = (tree.get_node_at_line(i) for i in range(tree.last_line + 1))
        return [str(node.label) for node in nodes if node is not None]

    async with app.run_test(size=(120, 36)) as pilot:
        await until(lambda: run.name in rows())
        table = app.screen.query_one(RunTable)
        table.move_cursor(row=rows().index(run.name))
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, RunScreen) and len(lines()) == 3)
        tree_text = "\n".join(lines())
        assert "parent(x=1)" in tree_text
        assert "child(x=1)" in tree_text and "✓ where" in tree_text
        assert tree_text.count("✓") == 3
        logs = app.screen.query_one(LogView)
        await pilot.press("w")  # the whole run's logs, printed on the workers
        await until(lambda: any("parent calls child with 1" in line for line in logs.shown))
        assert any("child got 1" in line for line in logs.shown)


def test_calls_nested_deeper_than_the_worker_threads_do_not_deadlock(on_dask: Any) -> None:
    # Two single-threaded workers, five levels each waiting on the next: a waiting body
    # leaves Dask's thread pool (secede), so its children still get threads.
    assert flyte.with_runcontext(echo=False).run(t.depth, 5).outputs()[0] == 5


def test_flyte_map_from_a_body_on_a_worker(on_dask: Any) -> None:
    run = flyte.with_runcontext(echo=False).run(t.mapped, 6)
    assert run.outputs()[0] == [i * i for i in range(6)]
    assert len(on_dask.list_actions(run.name)) == 7


def test_abort_stops_the_body_on_its_worker(on_dask: Any, tmp_path: Path) -> None:
    marker = tmp_path / "started"
    run = flyte.with_runcontext(echo=False, raise_on_failure=False).start(
        t.wait_forever, str(marker)
    )
    wait_for_file(marker, 60)
    assert run.abort()
    run.wait(timeout=60)
    assert run.phase is Phase.ABORTED
    # The body (a 60 s loop) was interrupted where it ran, not left running on the worker;
    # under a tracer (coverage) the engine lets it end on its own (see `raise_in_thread`).
    if sys.gettrace() is None:
        wait_for_file(Path(f"{marker}.stopped"))
    Path(f"{marker}.release").touch()


def test_a_parent_holding_dask_resources_waits_on_children_that_need_them(
    on_dask: Any,
) -> None:
    # Each worker declares CPU=1. The parent keeps its worker's CPU (and thread) while it
    # waits; its CPU=1 children run on the other worker instead of queueing behind it.
    assert flyte.with_runcontext(echo=False).run(t.cpu_parent, 4).outputs()[0] == 6


def test_a_memory_error_the_body_raises_stays_a_memory_error(on_dask: Any) -> None:
    run = flyte.with_runcontext(echo=False).run(t.catches_memory_error)
    assert run.outputs()[0] == "MemoryError: the body's own MemoryError"
