"""Process workers: where bodies run, Resources enforced, OOMError, reuse, crashes, channel.

Tasks live in `process_tasks.py` (a worker imports the module of the task it runs).
Worker processes are real: forked by the zygote, killed for real on timeout and OOM.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import process_tasks as pt
import pytest

import flyte
import flyte.errors
from flyte import Phase
from flyte._controller import get_controller
from flyte._controller.process import ProcessExecutor, machine_capacity
from flyte.errors import OOMError, RuntimeSystemError, RuntimeUserError, TaskTimeoutError

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="process workers need fork")


def actions(run: flyte.Run, name: str) -> list[Any]:
    return [a for a in run.actions() if a.name == name]


def placements(run: flyte.Run, name: str) -> list[dict[str, Any]]:
    ids = {a.id for a in actions(run, name)}
    return [att.placement for att in run.store.list_attempts(run.name) if att.action in ids]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def wait_until(predicate: Any, deadline: float = 30.0) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def process_executor() -> ProcessExecutor:
    ex = get_controller()._executors.get("process")
    assert isinstance(ex, ProcessExecutor)
    return ex


# --- where bodies run ------------------------------------------------------------------


def test_a_task_with_resources_runs_in_a_worker_process(store: Any) -> None:
    run = flyte.run(pt.square_in_worker, 7)
    value, pid = run.outputs()
    assert value == 49
    assert pid != os.getpid()
    (placement,) = placements(run, "worker_env.square_in_worker")
    assert placement["worker"] == "process"
    assert placement["pid"] == pid
    assert placement["reused"] is False
    assert placement["peak_rss"] > 1 << 20
    (action,) = actions(run, "worker_env.square_in_worker")
    assert [line.line for line in store.logs(run.name, action_id=action.id)] == ["worker says 7"]


def test_tasks_without_resources_stay_in_process(store: Any) -> None:
    run = flyte.run(pt.where)
    assert run.outputs()[0] == os.getpid()
    (placement,) = placements(run, "plain.where")
    assert placement == {"worker": "inline"}


def test_executor_process_sends_every_body_to_a_worker(store: Any) -> None:
    flyte.init(store=store, executor="process")
    run = flyte.run(pt.where)
    assert run.outputs()[0] != os.getpid()
    assert placements(run, "plain.where")[0]["worker"] == "process"


def test_flyte_executor_env_var(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYTE_EXECUTOR", "process")
    run = flyte.run(pt.where)
    assert run.outputs()[0] != os.getpid()


def test_executor_inline_keeps_even_resource_tasks_here(store: Any) -> None:
    run = flyte.with_runcontext(executor="inline").run(pt.square_in_worker, 3)
    assert tuple(run.outputs()) == (9, os.getpid())


def test_unknown_executor_is_a_clear_error() -> None:
    with pytest.raises(flyte.errors.InvalidOptionError, match="'inline', 'process'"):
        flyte.init(executor="threads")


def test_async_bodies_run_in_workers_too(store: Any) -> None:
    assert flyte.run(pt.async_in_worker, 41).outputs()[0] == 42


def test_two_environments_set_one_variable_differently(store: Any) -> None:
    # In process this is an EnvVarConflictError; workers isolate env vars exactly.
    assert flyte.run(pt.read_both).outputs()[0] == ["from-a", "from-b"]
    assert "SHARED_VAR" not in os.environ


def test_a_worker_sees_only_its_own_secrets(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYTE_SECRET_TOKEN_A", "a-value")
    monkeypatch.setenv("FLYTE_SECRET_TOKEN_B", "b-value")
    got = flyte.run(pt.read_secrets).outputs()[0]
    assert got == {"TOKEN_A": "a-value", "FLYTE_SECRET_TOKEN_B": None}


def test_a_child_error_reaches_the_parent_as_its_own_type(store: Any) -> None:
    assert flyte.run(pt.catches_child_error).outputs()[0] == "caught ValueError: bad input 7"
    run = flyte.with_runcontext(raise_on_failure=False).run(pt.raises_value_error, 3)
    exc = run.exception()
    assert isinstance(exc, ValueError) and isinstance(exc, RuntimeUserError)
    (action,) = actions(run, "worker_env.raises_value_error")
    assert action.error_type == "ValueError"
    assert "raise ValueError" in (action.traceback or ""), "the user's own traceback"
    assert "process_tasks.py" in (action.traceback or "")


# --- Resources: memory enforced ----------------------------------------------------------


def test_the_seed_oom_pattern(store: Any) -> None:
    """memory=200Mi allocating 600 MB fails with OOMError; the override with 2Gi succeeds."""
    before = _rss_self()
    run = flyte.run(pt.oom_then_bigger, 600)
    assert run.outputs()[0] == "retried:600"
    first, second = sorted(actions(run, "small.allocate"), key=lambda a: a.started_at or 0)
    assert first.phase is Phase.FAILED and first.error_type == "OOMError"
    assert "200Mi" in (first.error_message or "")
    assert second.phase is Phase.SUCCEEDED
    assert _rss_self() - before < 300 << 20, "the driver itself never held the allocation"


def test_oom_error_is_also_a_runtime_user_error(store: Any) -> None:
    run = flyte.with_runcontext(raise_on_failure=False).run(pt.allocate, 600)
    exc = run.exception()
    assert isinstance(exc, OOMError) and isinstance(exc, RuntimeUserError)
    assert isinstance(exc, MemoryError)
    assert exc.code == "OOMError"
    assert run.phase is Phase.FAILED


def _rss_self() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# --- Resources: cpu as a scheduling request ------------------------------------------


def test_cpu_requests_never_exceed_the_machine(store: Any, tmp_path: Path) -> None:
    cpus, _ = machine_capacity()
    run = flyte.run(pt.six_cpu_tasks, str(tmp_path))
    seen = [int(p.read_text()) for p in tmp_path.glob("*.seen")]
    assert len(seen) == 6
    assert max(seen) <= cpus
    assert max(run.outputs()[0]) <= cpus
    if cpus < 6:  # some attempts had to wait, QUEUED
        assert any(p.get("queued_s", 0) > 0 for p in placements(run, "cpu_env.hold_cpu"))


def test_attempts_waiting_for_cpu_show_queued(store: Any, tmp_path: Path) -> None:
    cpus, _ = machine_capacity()
    if cpus >= 6:
        pytest.skip("needs fewer than 6 CPUs for six cpu=1 tasks to wait")
    handle = flyte.with_runcontext(echo=False).start(pt.six_cpu_tasks, str(tmp_path))
    seen: set[str] = set()

    def look() -> bool:
        run_actions = [a for a in store.list_actions(handle.name) if a.name == "cpu_env.hold_cpu"]
        seen.update(a.phase.value for a in run_actions)
        return handle.done()

    assert wait_until(look, deadline=60)
    assert "QUEUED" in seen
    assert all(a.phase is Phase.SUCCEEDED for a in actions(handle, "cpu_env.hold_cpu"))


def test_a_request_that_can_never_fit_is_a_clear_error(store: Any) -> None:
    cpus, _ = machine_capacity()
    huge = pt.where.override(resources=flyte.Resources(cpu=int(cpus) + 1))
    # Refused, not waited for: a wait would never end (pytest-timeout fails it).
    with pytest.raises(flyte.errors.InvalidOptionError, match="this machine has"):
        flyte.run(huge)


# --- ReusePolicy -------------------------------------------------------------------------


def test_reuse_policy_runs_on_at_most_replicas_warm_workers(store: Any) -> None:
    run = flyte.run(pt.fan_reused, 40)
    results = run.outputs()[0]
    pids = {pid for pid, _ in results}
    assert 1 <= len(pids) <= 2
    assert os.getpid() not in pids
    # Module state survives between calls in a worker: its count goes up by one a call
    # (from wherever an earlier test left a still-warm worker).
    assert max(n for _, n in results) > 1
    for pid in pids:
        counts = sorted(n for p, n in results if p == pid)
        assert counts == list(range(counts[0], counts[0] + len(counts)))
    reused = [p["reused"] for p in placements(run, "reused.count_calls")]
    assert reused.count(True) >= 38
    # idle_ttl=1: the warm workers exit once idle.
    assert wait_until(lambda: not any(alive(pid) for pid in pids))


def test_runs_with_other_env_vars_get_warm_workers_of_their_own(store: Any) -> None:
    # A warm pool is chosen per (environment, run env vars): a worker started with one
    # run's variables never serves another run's attempts with different ones.
    outputs = [
        flyte.with_runcontext(env_vars={"RUN_FLAVOUR": flavour}).run(pt.warm_flavour).outputs()[0]
        for flavour in ("a", "b", "a", "b")
    ]
    pids = [int(out.split(":")[0]) for out in outputs]
    assert [out.split(":")[1] for out in outputs] == ["a", "b", "a", "b"]
    assert not {pids[0], pids[2]} & {pids[1], pids[3]}


def test_a_new_warm_worker_takes_as_many_waiting_attempts_as_its_concurrency(
    store: Any,
) -> None:
    # The pool starts cold: the first call spawns its worker while the other three wait.
    # Once the worker is up all four run in it at once (they meet at a barrier), not one
    # more each time one ends.
    run = flyte.run(pt.fan_meet)
    assert run.outputs()[0] == [0, 1, 2, 3]


def test_overlapping_sync_bodies_in_one_warm_worker_all_report(store: Any) -> None:
    # Up to 16 sync bodies at once in one worker: the dones of those that finish together
    # leave through the worker's loop in shared writes; none is lost, each after its logs.
    run = flyte.run(pt.fan_overlapping, 60)
    assert run.outputs()[0] == [i * i for i in range(60)]
    done = actions(run, "busy.overlapping")
    assert len(done) == 60 and {a.phase for a in done} == {Phase.SUCCEEDED}
    assert len({p["pid"] for p in placements(run, "busy.overlapping")}) == 1
    lines = {line.line for a in done for line in run.store.logs(run.name, action_id=a.id)}
    assert lines == {f"overlapping {i}" for i in range(60)}


# --- timeouts, aborts, crashes -----------------------------------------------------------


def test_a_timeout_kills_the_worker_for_real(store: Any) -> None:
    # The body sleeps 10 minutes: a run that returns at all was stopped at its deadline.
    run = flyte.with_runcontext(raise_on_failure=False).run(pt.sleeps, 600)
    assert isinstance(run.exception(), TaskTimeoutError)
    assert run.phase is Phase.TIMED_OUT
    (placement,) = placements(run, "worker_env.sleeps")
    assert wait_until(lambda: not alive(placement["pid"]))


def test_abort_kills_the_worker(store: Any) -> None:
    handle = flyte.with_runcontext(raise_on_failure=False).start(pt.sleeps, 30)
    assert wait_until(lambda: bool(process_executor().pids()) if _has_process() else False)
    pids = process_executor().pids()
    handle.abort()
    handle.wait(timeout=20)
    assert handle.phase is Phase.ABORTED
    assert wait_until(lambda: not any(alive(p) for p in pids))


def _has_process() -> bool:
    return "process" in get_controller()._executors


@pytest.mark.parametrize(
    ("how", "expected"),
    [("exit", "exited with code 3"), ("kill", "SIGKILL"), ("segv", "SIGSEGV")],
)
def test_a_dying_worker_fails_the_attempt_with_a_system_error(
    store: Any, how: str, expected: str
) -> None:
    run = flyte.with_runcontext(raise_on_failure=False).run(pt.dies, how)
    exc = run.exception()
    assert isinstance(exc, RuntimeSystemError)
    assert expected in str(exc)
    (action,) = actions(run, "worker_env.dies")
    assert action.phase is Phase.FAILED
    assert expected in (action.error_message or "")
    assert run.phase is Phase.FAILED


def test_sys_exit_in_a_worker_body_fails_the_run(store: Any) -> None:
    run = flyte.with_runcontext(raise_on_failure=False).run(pt.dies, "sysexit")
    assert run.phase is Phase.FAILED
    (action,) = actions(run, "worker_env.dies")
    assert action.error_type == "SystemExit"
    assert "sys.exit(4)" in (action.error_message or "")


def test_retries_apply_after_a_worker_crash(store: Any) -> None:
    run = flyte.run(pt.dies_once)
    assert run.outputs()[0] == 2
    attempts = store.list_attempts(run.name)
    assert [a.phase for a in attempts] == [Phase.FAILED, Phase.SUCCEEDED]
    assert "exited with code 9" in (attempts[0].error_message or "")


# --- the worker channel ------------------------------------------------------------------


def test_a_worker_task_calling_an_in_process_task_is_one_tree(store: Any) -> None:
    run = flyte.run(pt.root_worker_calls_inline, 4)
    assert run.outputs()[0] == 40 + 5
    (worker_action,) = actions(run, "worker_env.worker_calls_inline")
    (helper,) = actions(run, "plain.helper_inline")
    (trace,) = [a for a in run.actions() if a.kind.value == "trace"]
    assert helper.parent == worker_action.id
    assert trace.parent == worker_action.id
    assert [line.line for line in store.logs(run.name, action_id=worker_action.id)] == [
        "worker body 4"
    ]
    assert [line.line for line in store.logs(run.name, action_id=helper.id)] == ["inline helper 4"]


def test_trace_replays_across_the_process_boundary_on_retry(store: Any) -> None:
    run = flyte.run(pt.root_worker_calls_inline, 5, True)
    assert run.outputs()[0] == 50 + 6
    (trace,) = [a for a in run.actions() if a.kind.value == "trace"]
    assert trace.recovered, "attempt 2 replayed the trace attempt 1 recorded"
    assert trace.attempts == 2


def test_rerun_recover_across_the_process_boundary(sqlite_store: Any, tmp_path: Path) -> None:
    marker = tmp_path / "fail"
    marker.touch()
    first = flyte.with_runcontext(raise_on_failure=False).run(pt.root_flaky, 3, str(marker))
    assert first.phase is Phase.FAILED
    marker.unlink()
    second = flyte.rerun(first.name, recover=True)
    assert second.outputs()[0] == 30 + 4
    (trace,) = [a for a in second.actions() if a.kind.value == "trace"]
    assert trace.recovered
    (helper,) = actions(second, "plain.helper_inline")
    assert helper.recovered
    (worker_action,) = actions(second, "worker_env.flaky_worker")
    assert not worker_action.recovered and worker_action.phase is Phase.SUCCEEDED


def test_flyte_map_inside_a_worker_body(store: Any) -> None:
    run = flyte.run(pt.worker_map, 5)
    assert run.outputs()[0] == [1, 2, 3, 4, 5]
    (mapper,) = actions(run, "worker_env.worker_map")
    helpers = actions(run, "plain.helper_inline")
    assert len(helpers) == 5 and all(h.parent == mapper.id for h in helpers)
    assert {h.group for h in helpers} == {"helper_inline_map"}


def test_groups_made_in_a_worker_are_recorded(store: Any) -> None:
    run = flyte.run(pt.worker_group, 3)
    assert run.outputs()[0] == [1, 2, 3]
    assert {h.group for h in actions(run, "plain.helper_inline")} == {"inner"}


def test_ids_are_the_same_wherever_bodies_run(store: Any) -> None:
    inline = flyte.with_runcontext(executor="inline").run(pt.root_worker_calls_inline, 6)
    worker = flyte.run(pt.root_worker_calls_inline, 6)
    assert sorted(a.id for a in inline.actions()) == sorted(a.id for a in worker.actions())


def test_a_report_logged_in_a_worker_is_stored(store: Any) -> None:
    run = flyte.run(pt.reports_from_worker, 5)
    (action,) = actions(run, "worker_env.reports_from_worker")
    assert placements(run, "worker_env.reports_from_worker")[0]["worker"] == "process"
    report = store.get_report(run.name, action.id)
    assert report is not None
    assert "worker 5" in str(report.tabs)


def test_async_traces_in_a_worker_record_and_replay(store: Any) -> None:
    run = flyte.run(pt.worker_async_traces, 2)
    assert run.outputs()[0] == 200 + 300
    traces = [a for a in run.actions() if a.kind.value == "trace"]
    assert len(traces) == 2
    assert all(t.recovered and t.attempts == 2 for t in traces), "attempt 2 replayed both"
    assert sorted(line.line for t in traces for line in store.logs(run.name, action_id=t.id)) == [
        "async tracing 2",
        "async tracing 3",
    ]


def test_an_oom_in_a_warm_worker_replaces_it(store: Any) -> None:
    assert flyte.run(pt.oom_in_warm_worker).outputs()[0] == ["oom", "replaced"]


def test_a_memory_error_the_body_raises_itself_stays_its_own_type(store: Any) -> None:
    """Only a limit reached makes an OOMError; a body's own MemoryError reaches the parent as is."""
    run = flyte.run(pt.catches_own_memory_error)
    assert run.outputs()[0] == "own:MemoryError"
    (child,) = actions(run, "small.raises_memory_error")
    assert child.phase is Phase.FAILED and child.error_type == "MemoryError"


def test_a_child_of_a_warm_parent_runs_in_another_replica_so_its_oom_spares_the_parent(
    store: Any,
) -> None:
    # With replicas to spare, a child does not share the process of the parent waiting on
    # it: the child's OOM kills only its own worker, and the parent's except clause runs.
    run = flyte.run(pt.crunch_with_fallback, 400)
    assert run.outputs()[0] == ["fallback", "elsewhere"]
    (parent,) = actions(run, "fallback_env.crunch_with_fallback")
    children = actions(run, "fallback_env.crunch")
    assert parent.phase is Phase.SUCCEEDED
    assert sorted(str(c.error_type) for c in children) == ["None", "OOMError"]


MAIN_SCRIPT_INPUTS = """
import dataclasses, typing
import flyte

env = flyte.TaskEnvironment("main_inputs", resources=flyte.Resources(memory="300Mi"))


def helper(x: int) -> int:
    return x + 1


@dataclasses.dataclass
class Box:
    v: int


@env.task
def apply(f: typing.Callable[[int], int], box: Box) -> int:
    return f(box.v)


if __name__ == "__main__":
    print("OUT", flyte.with_runcontext(echo=False).run(apply, helper, Box(2)).outputs()[0])
"""


def test_functions_and_classes_of_the_script_reach_a_worker(tmp_path: Path) -> None:
    # Upstream's highlevel_libraries/run_eval.py passes a function defined in the script
    # to a task: by reference it named the worker's own __main__, which lacks it.
    import subprocess
    import sys

    script = tmp_path / "script.py"
    script.write_text(MAIN_SCRIPT_INPUTS)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FLYTE_")}
    environ["FLYTE_HOME"] = str(tmp_path / "home")
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=environ, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "OUT 3"
