"""Behaviour of `flyte.rerun` and recovery (`recover=True`, `with_runcontext(recover_from=)`).

The SIGKILL test follows the dbos resume test (STYLE.md rule 6): run, interrupt, resume,
then assert that the body ran twice and each finished step exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import flyte
from flyte import ActionKind, Phase

# --- tasks -----------------------------------------------------------------------------
# Module-level, so that a rerun loads these very functions (from source or by reference)
# and the counters below see every execution.

env = flyte.TaskEnvironment("recover_tests")
executed: Counter[str] = Counter()
broken: set[int] = set()  # indices for which step(i) and fetch(i) fail


@pytest.fixture(autouse=True)
def _reset() -> None:
    executed.clear()
    broken.clear()


@env.task
def greet(n: int, word: str = "hi") -> str:
    executed[f"greet {word} {n}"] += 1
    return f"{word} x{n}"


@flyte.trace
def prepare(n: int) -> list[int]:
    executed["prepare"] += 1
    return list(range(n))


@env.task
def step(i: int) -> int:
    executed[f"step{i}"] += 1
    if i in broken:
        raise ValueError(f"step {i} is broken")
    return i * i


@env.task
def main(n: int) -> list[int]:
    """Calls step(i) in order for each i that the `prepare` trace returns."""
    executed["main"] += 1
    return [step(i) for i in prepare(n)]


@flyte.trace
async def fetch(i: int) -> int:
    executed[f"fetch{i}"] += 1
    if i in broken:
        raise ConnectionError("down")
    return i + 100


@env.task
async def fetch_all(n: int) -> int:
    total = 0
    for i in range(n):
        total += await fetch(i)
    return total


def by_name(run: flyte.Run) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for a in run.actions():
        found.setdefault(a.name.rsplit(".", 1)[-1], []).append(a)
    return found


def last_run(store: Any) -> Any:
    return store.list_runs(limit=1)[0]


# --- rerun -----------------------------------------------------------------------------


def test_rerun_runs_the_same_task_again_with_the_same_inputs(store: Any) -> None:
    first = flyte.run(greet, 2, word="yo")
    again = flyte.rerun(first.name)
    assert again.name != first.name
    assert again.outputs()[0] == first.outputs()[0] == "yo x2"
    assert executed == Counter({"greet yo 2": 2})  # not recovered: it executes again
    assert again.record.recovered_from is None
    assert not any(a.recovered for a in again.actions())


def test_rerun_with_new_inputs(store: Any) -> None:
    first = flyte.run(greet, 2, word="yo")
    assert flyte.rerun(first.name, n=5).outputs()[0] == "yo x5"
    assert flyte.rerun(first.name, word="hey").outputs()[0] == "hey x2"
    changed = flyte.rerun(first.name, n=1, word="ho")
    assert changed.outputs()[0] == "ho x1"
    assert changed.inputs() == {"n": 1, "word": "ho"}


def test_rerun_of_an_unknown_run_raises(store: Any) -> None:
    with pytest.raises(flyte.errors.RunNotFoundError):
        flyte.rerun("no-such-run")
    with pytest.raises(flyte.errors.RunNotFoundError):
        flyte.with_runcontext(recover_from="no-such-run").run(greet, 1)


CELL = """
import flyte

env = flyte.TaskEnvironment("cell_rerun")


def helper(x):
    return x * 2


@env.task
def double(x: int) -> int:
    return helper(x)
"""


def test_rerun_of_a_task_defined_by_exec(store: Any) -> None:
    namespace: dict[str, Any] = {"__name__": "notebook_cell"}
    exec(compile(CELL, "<cell>", "exec"), namespace)
    first = flyte.run(namespace["double"], 2)
    assert flyte.rerun(first.name, x=5).outputs()[0] == 10


def test_rerun_of_a_task_using_a_trace_defined_by_exec(store: Any) -> None:
    namespace: dict[str, Any] = {"__name__": "notebook_cell"}
    source = CELL.replace("def helper", "@flyte.trace\ndef helper")
    exec(compile(source, "<cell>", "exec"), namespace)
    first = flyte.run(namespace["double"], 2)
    assert flyte.rerun(first.name, recover=True).outputs()[0] == 4


# --- recover ---------------------------------------------------------------------------


def test_recover_reuses_succeeded_actions_and_traces(store: Any) -> None:
    broken.add(3)
    with pytest.raises(ValueError, match="step 3 is broken"):
        flyte.run(main, 5)
    failed = last_run(store)
    assert failed.phase is Phase.FAILED
    assert executed == Counter(main=1, prepare=1, step0=1, step1=1, step2=1, step3=1)

    broken.clear()
    executed.clear()
    recovered = flyte.rerun(failed.name, recover=True)

    assert recovered.outputs()[0] == [0, 1, 4, 9, 16]
    # Only the failed root, the failed step and the step never reached execute.
    assert executed == Counter(main=1, step3=1, step4=1)
    assert recovered.record.recovered_from == failed.name
    acts = by_name(recovered)
    assert [a.recovered for a in acts["main"]] == [False]
    [prep] = acts["prepare"]
    assert prep.kind is ActionKind.TRACE and prep.recovered
    steps = {json.loads(a.inputs_json)["i"]: a for a in acts["step"]}
    assert sorted(steps) == [0, 1, 2, 3, 4]
    assert {i for i, a in steps.items() if a.recovered} == {0, 1, 2}
    assert all(a.phase is Phase.SUCCEEDED for a in recovered.actions())
    # Recovered actions keep their ids: the same code with the same inputs, the same tree.
    old_ids = {a.id for a in store.list_actions(failed.name)}
    assert {a.id for a in recovered.actions() if a.recovered} <= old_ids


@env.task
async def plain_value(kind: str) -> Any:
    executed[f"plain {kind}"] += 1
    return {
        "int": -(2**62),
        "huge": 10**5000,  # more digits than str() allows
        "bool": True,
        "none": None,
        "str": 'héllo \ud800 "quoted"',
        "long": "x" * 5000,
        "float": 0.1,
        "tuple": (1, "a"),
    }[kind]


@env.task
async def plain_values(fail: bool) -> list[Any]:
    kinds = ["int", "huge", "bool", "none", "str", "long", "float", "tuple"]
    values = await asyncio.gather(*(plain_value(k) for k in kinds))
    if fail:
        raise ValueError("planned")
    return values


def test_recovered_plain_values_are_exact_and_not_run_again(store: Any) -> None:
    """Outputs of in-process async tasks, kept as JSON where that is exact (issue 13: a
    non-executable form where the type allows) or sealed pickles: recovery reuses each,
    of the very type and value, and runs none again."""
    with pytest.raises(ValueError, match="planned"):
        flyte.run(plain_values, True)
    failed = last_run(store)
    executed.clear()
    run = flyte.with_runcontext(recover_from=failed.name, raise_on_failure=False).run(
        plain_values, True
    )
    assert run.phase is Phase.FAILED
    assert not [k for k in executed if k.startswith("plain ")]
    recovered = [a for a in run.actions() if a.name.endswith("plain_value")]
    assert len(recovered) == 8 and all(a.recovered for a in recovered)
    values = flyte.run(plain_values, False).outputs()[0]
    assert values == [-(2**62), 10**5000, True, None, "héllo \ud800 \"quoted\"", "x" * 5000,
                      0.1, (1, "a")]  # fmt: skip
    assert [type(v) for v in values] == [int, int, bool, type(None), str, str, float, tuple]


def test_recover_from_via_run_context(store: Any) -> None:
    broken.add(3)
    with pytest.raises(ValueError):
        flyte.run(main, 5)
    failed = last_run(store).name
    broken.clear()
    executed.clear()
    run = flyte.with_runcontext(recover_from=failed, name="recovered-run").run(main, 5)
    assert run.name == "recovered-run"
    assert run.outputs()[0] == [0, 1, 4, 9, 16]
    assert executed == Counter(main=1, step3=1, step4=1)
    assert run.record.recovered_from == failed


def test_recover_with_changed_inputs_reuses_only_identical_calls(store: Any) -> None:
    first = flyte.run(main, 3)
    executed.clear()

    run = flyte.rerun(first.name, recover=True, n=5)

    assert run.outputs()[0] == [0, 1, 4, 9, 16]
    # main(5) and prepare(5) have new inputs; step(0..2) are the same calls as before.
    assert executed == Counter(main=1, prepare=1, step3=1, step4=1)
    acts = by_name(run)
    assert not acts["main"][0].recovered and not acts["prepare"][0].recovered
    recovered_steps = sorted(json.loads(a.inputs_json)["i"] for a in acts["step"] if a.recovered)
    assert recovered_steps == [0, 1, 2]


def test_recovering_a_succeeded_run_executes_nothing(store: Any) -> None:
    first = flyte.run(main, 4)
    executed.clear()
    again = flyte.rerun(first.name, recover=True)
    assert again.outputs()[0] == first.outputs()[0] == [0, 1, 4, 9]
    assert executed == Counter()
    assert by_name(again)["main"][0].recovered


def test_recover_reexecutes_traces_that_failed(store: Any) -> None:
    broken.add(2)
    with pytest.raises(ConnectionError):
        flyte.run(fetch_all, 4)
    failed = last_run(store).name
    broken.clear()
    executed.clear()
    run = flyte.rerun(failed, recover=True)
    assert run.outputs()[0] == 100 + 101 + 102 + 103
    assert executed == Counter(fetch2=1, fetch3=1)
    replayed = sorted(json.loads(a.inputs_json)["i"] for a in run.actions() if a.recovered)
    assert replayed == [0, 1]


@env.task
def slow_step(i: int) -> int:
    executed[f"slow{i}"] += 1
    time.sleep(0.03)
    return -i


@env.task
def slow_main(n: int) -> list[int]:
    return [slow_step(i) for i in range(n)]


def test_an_aborted_run_is_recovered_executing_only_unfinished_actions(sqlite_store: Any) -> None:
    run = flyte.with_runcontext(echo=False).start(slow_main, 60)
    deadline = time.monotonic() + 20
    while (
        sum(1 for a in run.actions() if a.name.endswith("slow_step") and a.phase is Phase.SUCCEEDED)
        < 5
    ):
        assert time.monotonic() < deadline and not run.done()
        time.sleep(0.01)
    assert run.abort()
    run.wait()
    assert run.phase is Phase.ABORTED
    done = {
        json.loads(a.inputs_json)["i"]
        for a in run.actions()
        if a.name.endswith("slow_step") and a.phase is Phase.SUCCEEDED
    }
    assert 5 <= len(done) < 60
    executed.clear()

    recovered = flyte.rerun(run.name, recover=True)

    assert recovered.outputs()[0] == [-i for i in range(60)]
    assert {int(k[4:]) for k in executed} == set(range(60)) - done
    assert all(count == 1 for count in executed.values())


# --- SIGKILL mid-run, then recover ----------------------------------------------------------

STEPS = """
import os
import time
from pathlib import Path

import flyte

env = flyte.TaskEnvironment("killed")


def log(line: str) -> None:
    with Path(os.environ["STEPS_LOG"]).open("a") as f:
        f.write(line + "\\n")


@env.task
def step(i: int) -> int:
    log(str(i))
    time.sleep(float(os.environ.get("STEP_SLEEP", "0")))
    return i * i + 1


@env.task
def main(n: int) -> list[int]:
    log("main")
    return [step(i) for i in range(n)]
"""

DRIVE = """
import sys
import flyte
import sigkill_steps

flyte.init(store=sys.argv[1])
flyte.with_runcontext(name=sys.argv[2], echo=False).run(sigkill_steps.main, 50)
"""


def _executions(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def _succeeded_steps(store: Any, run: str) -> set[int]:
    return {
        json.loads(a.inputs_json)["i"]
        for a in store.list_actions(run)
        if a.name == "killed.step" and a.phase is Phase.SUCCEEDED
    }


@pytest.mark.timeout(60)
def test_a_run_killed_with_sigkill_is_recovered_executing_only_unfinished_actions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flyte._store.sqlite import SqliteRunStore

    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "sigkill_steps.py").write_text(textwrap.dedent(STEPS))
    db = tmp_path / "killed.db"
    log = tmp_path / "steps.log"
    name = "killed-run"

    env = dict(os.environ)  # FLYTE_HOME points into tmp_path (autouse fixture)
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(modules), env.get("PYTHONPATH")])),
        STEPS_LOG=str(log),
        STEP_SLEEP="0.04",
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVE, str(db), name],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    store = SqliteRunStore(db)
    try:
        # 1. Run until about half of the 50 steps are recorded SUCCEEDED, then SIGKILL.
        deadline = time.monotonic() + 30
        while len(done := _succeeded_steps(store, name) if store.get_run(name) else set()) < 25:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the run did not get half way in 30 s"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    # 2. The killed run reads as interrupted.
    killed = store.get_run(name)
    assert killed is not None
    assert killed.phase is Phase.ABORTED and killed.interrupted
    done = _succeeded_steps(store, name)
    assert 25 <= len(done) < 50
    before = Counter(_executions(log))
    assert before["main"] == 1

    # 3. Recover in this process, which must be able to import the tasks' module.
    monkeypatch.syspath_prepend(str(modules))
    monkeypatch.setenv("STEPS_LOG", str(log))
    monkeypatch.setenv("STEP_SLEEP", "0")
    flyte.init(store=store)
    recovered = flyte.rerun(name, recover=True)

    # 4. Only the unfinished actions executed; the body ran twice and each step once.
    after = Counter(_executions(log)) - before
    assert after["main"] == 1
    assert {int(k) for k in after if k != "main"} == set(range(50)) - done
    assert all(count == 1 for count in after.values())
    total = Counter(_executions(log))
    assert total["main"] == 2
    assert all(total[str(i)] == 1 for i in done)
    steps = [a for a in recovered.actions() if a.name == "killed.step"]
    assert len(steps) == 50
    assert {json.loads(a.inputs_json)["i"] for a in steps if a.recovered} == done
    assert recovered.record.recovered_from == name
    assert recovered.phase is Phase.SUCCEEDED

    # 5. The output equals an uninterrupted run's.
    monkeypatch.setenv("STEPS_LOG", str(tmp_path / "uninterrupted.log"))
    import sigkill_steps

    uninterrupted = flyte.run(sigkill_steps.main, 50)
    assert recovered.outputs()[0] == uninterrupted.outputs()[0] == [i * i + 1 for i in range(50)]


FIXABLE = """
import asyncio

import flyte

env = flyte.TaskEnvironment("fixable")


@env.task
async def part(i: int) -> int:
    if i == 3:
        raise ValueError("bug in part 3")  # BUG
    return i * 10


@env.task
async def main(n: int) -> int:
    return sum(await asyncio.gather(*(part(i) for i in range(n))))
"""


def test_recover_after_fixing_the_bug_in_the_source_file(
    sqlite_store: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real workflow: a run fails, the user fixes the file, recover reuses the rest."""
    import importlib.util

    path = tmp_path / "fixable_pipeline.py"
    path.write_text(FIXABLE)
    spec = importlib.util.spec_from_file_location("__main__fixable", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "__main__fixable", module)

    with pytest.raises(ValueError, match="bug in part 3"):
        flyte.run(module.main, 6)
    failed = sqlite_store.list_runs(limit=1)[0]
    assert failed.phase is Phase.FAILED

    path.write_text(FIXABLE.replace('raise ValueError("bug in part 3")  # BUG', "pass"))
    monkeypatch.delitem(sys.modules, "__main__fixable")  # a new process would not have it
    run = flyte.rerun(failed.name, recover=True)
    assert run.outputs()[0] == sum(i * 10 for i in range(6))
    parts = [a for a in run.actions() if a.name == "fixable.part"]
    assert sorted(a.recovered for a in parts) == [False] + [True] * 5
