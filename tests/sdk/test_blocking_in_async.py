"""The blocking `flyte.map(...)` inside an async task (upstream allows it; queues/*.py do it).

Such a body runs on an event loop of its own in a thread (`flyte/_controller/own_loop.py`):
these tests check that it neither deadlocks nor stalls the engine, records its children
where they belong, and stops on abort and on its timeout. Programs that could hang run
as subprocesses with a deadline.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from functools import partial
from pathlib import Path
from typing import Any

import pytest

import flyte
from flyte import Phase
from flyte import map as fmap
from flyte._controller.own_loop import needs_own_loop
from flyte.errors import UserError

env = flyte.TaskEnvironment("blocking_async")
GO = threading.Event()


@env.task
async def add(x: int, y: int = 0) -> int:
    return x + y


@env.task
async def blocking_map(n: int) -> list[int]:
    return list(flyte.map(partial(add, y=10), range(n)))


@env.task
async def awaits_map(n: int) -> list[int]:
    return [x async for x in flyte.map.aio(add, range(n))]


@env.task
async def builtin_map(n: int) -> list[int]:
    return list(map(abs, range(n)))


@env.task
async def aliased_map(n: int) -> list[int]:
    return list(fmap(add, range(n)))


def _helper(n: int) -> list[int]:
    return list(flyte.map(add, range(n)))


@env.task
async def through_helper(n: int) -> list[int]:
    return _helper(n)


@env.task
async def waits_for_go(i: int) -> int:
    for _ in range(2000):  # bounded: a stalled engine fails the test instead of hanging it
        if GO.is_set():
            return i
        await asyncio.sleep(0.01)
    raise TimeoutError("GO was never set: the engine's loop was stalled")


@env.task
async def sets_go() -> str:
    GO.set()
    return "go"


@env.task
async def blocks_until_go(n: int) -> list[int]:
    return list(flyte.map(waits_for_go, range(n)))


@env.task
async def siblings(n: int) -> tuple[list[int], str]:
    # The blocking map's children can only finish after `sets_go` ran on the engine's loop.
    return await asyncio.gather(blocks_until_go(n), sets_go())  # type: ignore[return-value]


@env.task
async def hidden_map(n: int) -> list[int]:
    blocking = getattr(flyte, "ma" + "p")  # invisible in the bytecode
    return list(blocking(add, range(n)))


def test_which_async_bodies_get_a_loop_of_their_own() -> None:
    assert needs_own_loop(blocking_map)
    assert needs_own_loop(through_helper)
    assert needs_own_loop(aliased_map)
    assert not needs_own_loop(awaits_map)
    assert not needs_own_loop(builtin_map)
    assert not needs_own_loop(add)


def test_blocking_map_in_an_async_task_runs_its_calls_as_children(store: Any) -> None:
    run = flyte.run(blocking_map, 4)
    assert run.outputs()[0] == [10, 11, 12, 13]
    actions = run.actions()
    (parent,) = [a for a in actions if a.name == "blocking_async.blocking_map"]
    children = [a for a in actions if a.name == "blocking_async.add"]
    assert len(children) == 4
    assert {a.parent for a in children} == {parent.id}
    assert all(a.phase is Phase.SUCCEEDED for a in actions)


def test_a_blocking_map_in_a_helper_the_task_calls(store: Any) -> None:
    assert flyte.run(through_helper, 3).outputs()[0] == [0, 1, 2]
    assert flyte.run(aliased_map, 2).outputs()[0] == [0, 1]


def test_a_blocking_map_does_not_stall_sibling_async_tasks(store: Any) -> None:
    GO.clear()
    run = flyte.run(siblings, 3)
    assert run.outputs()[0] == [[0, 1, 2], "go"]


def test_a_blocking_map_the_bytecode_hides_still_fails_with_one_line(store: Any) -> None:
    run = flyte.with_runcontext(raise_on_failure=False, echo=False).run(hidden_map, 2)
    assert run.phase is Phase.FAILED
    assert isinstance(run.exception(), UserError)
    assert "flyte.map.aio" in str(run.exception())


_PROGRAM = """
import asyncio, glob, sys, time
import flyte

mode = sys.argv[1]
res = flyte.Resources(memory="200Mi") if "worker" in mode else None
env = flyte.TaskEnvironment("stuck")
main_env = flyte.TaskEnvironment("stuck_main", resources=res)  # in a worker process

@env.task
async def forever(i: int) -> int:
    try:
        await asyncio.sleep(300)
    except asyncio.CancelledError:
        open(f"stopped-{i}", "w").close()  # the child really stopped, not just recorded so
        raise
    return i

@main_env.task(timeout=1 if mode.startswith("timeout") else None)
async def main(n: int) -> list[int]:
    return list(flyte.map(forever, range(n)))

@main_env.task(timeout=1 if mode.startswith("timeout") else None)
def sync_main(n: int) -> list[int]:
    return list(flyte.map(forever, range(n)))

flyte.init()
run = flyte.with_runcontext(raise_on_failure=False, echo=False).start(sync_main if "sync" in mode else main, 3)
if mode.startswith("abort"):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if sum(a.name == "stuck.forever" and a.phase.name == "RUNNING" for a in run.actions()) == 3:
            break
        time.sleep(0.05)
    run.abort()
run.wait(timeout=30)
deadline = time.monotonic() + 30
while len(glob.glob("stopped-*")) < 3 and time.monotonic() < deadline:
    time.sleep(0.05)
print(run.phase.name, type(run.exception()).__name__, len(glob.glob("stopped-*")))
print(sorted({a.phase.name for a in run.actions() if a.name == "stuck.forever"}))
print([a.name for a in run.actions() if not a.phase.is_terminal])
"""


@pytest.mark.parametrize(
    ("mode", "phase", "error"),
    [
        ("abort", "ABORTED", "RunAbortedError"),
        ("abort-worker", "ABORTED", "RunAbortedError"),
        ("timeout", "TIMED_OUT", "TaskTimeoutError"),
        ("timeout-worker", "TIMED_OUT", "TaskTimeoutError"),
        # A sync body in a worker process, too: its children stop with it.
        ("abort-worker-sync", "ABORTED", "RunAbortedError"),
        ("timeout-worker-sync", "TIMED_OUT", "TaskTimeoutError"),
    ],
)
def test_a_body_blocked_in_flyte_map_stops_on_abort_and_timeout(
    tmp_path: Path, mode: str, phase: str, error: str
) -> None:
    script = tmp_path / "stuck.py"
    script.write_text(_PROGRAM)
    env_ = {k: v for k, v in os.environ.items() if not k.startswith("FLYTE_")}
    env_["FLYTE_HOME"] = str(tmp_path / "home")
    proc = subprocess.run(
        [sys.executable, str(script), mode],
        capture_output=True,
        text=True,
        env=env_,
        cwd=tmp_path,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"{phase} {error} 3", "['ABORTED']", "[]"], (
        proc.stdout + proc.stderr
    )
