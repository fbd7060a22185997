"""The local engine: call routing, parallelism, ids, retries, timeouts, errors, env, logs, runs.

Every test runs against both stores (the `store` fixture), through the public API.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import flyte
import flyte.errors
from flyte import Phase
from flyte._store.memory import MemoryRunStore
from flyte.errors import (
    EnvVarConflictError,
    NonRecoverableError,
    RunAbortedError,
    RuntimeUserError,
    SerializationError,
    TaskTimeoutError,
)

env = flyte.TaskEnvironment("engine")

# Side effects that tasks report back to tests, keyed by something unique to the test.
events: dict[str, list[Any]] = {}


def record(key: str, value: Any) -> None:
    events.setdefault(key, []).append(value)


def by_name(run: flyte.Run, name: str) -> list[Any]:
    return [a for a in run.actions() if a.name == f"engine.{name}"]


def wait_for(condition: Any, timeout: float = 30.0) -> Any:
    """Poll `condition()` until it is truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {condition}"
        time.sleep(0.01)
    return value


def root(run: flyte.Run) -> Any:
    (a0,) = [a for a in run.actions() if a.parent is None]
    return a0


# --- tasks ---------------------------------------------------------------------------


@env.task
async def async_inc(x: int) -> int:
    return x + 1


@env.task
def sync_inc(x: int) -> int:
    return x + 1


@env.task
async def async_calls_async(x: int) -> int:
    return await async_inc(x) + await async_inc.aio(x)


@env.task
def sync_calls_sync(x: int) -> int:
    return sync_inc(x) + sync_inc(x + 1)


@env.task
def sync_marks(key: str, delay: float) -> str:
    time.sleep(delay)
    record(key, "child done")
    return "sync"


@env.task
async def async_awaits_sync(key: str) -> str:
    handle = sync_marks(key, 0.05)
    # The sync child starts at once, before it is awaited: its mark appears meanwhile.
    deadline = time.monotonic() + 30
    while "child done" not in events.get(key, []):
        if time.monotonic() > deadline:
            raise TimeoutError("the sync child did not start before it was awaited")
        await asyncio.sleep(0.01)
    record(key, "parent awaits")
    return await handle


@env.task
async def async_awaits_sync_aio(x: int) -> int:
    return await sync_inc.aio(x)


@env.task
def sync_calls_async(x: int) -> int:
    value = async_inc(x)
    assert not asyncio.iscoroutine(value), "an async task called from sync code gives its value"
    return value  # type: ignore[return-value]


@env.task
async def fire_and_forget(key: str) -> str:
    sync_marks(key, 0.3)  # never awaited (upstream examples do this)
    return "parent returned"


@env.task
def depth(n: int) -> int:
    if n == 0:
        return 0
    return 1 + depth_bridge(n - 1)  # type: ignore[operator]


@env.task
async def depth_bridge(n: int) -> int:
    return await depth(n)  # type: ignore[misc]


# The seed's two programs (flyte2-overview.md, "Pure Python execution").
seed = flyte.TaskEnvironment("hello_world")


@seed.task
def hello_world(name: str) -> str:
    return f"Hello, {name}!"


@seed.task
def main(name: str) -> str:
    for _ in range(10):
        hello_world(name)
    return "Done"


@seed.task
async def hello_world_async(name: str) -> str:
    return f"Hello, {name}!"


@seed.task
async def main_async(name: str) -> str:
    results = []
    for _ in range(10):
        results.append(hello_world_async(name))
    await asyncio.gather(*results)
    return "Done"


# --- the four call combinations ------------------------------------------------------


def test_async_task_from_async_code(store: Any) -> None:
    run = flyte.run(async_calls_async, 1)
    assert run.outputs()[0] == 4
    children = by_name(run, "async_inc")
    assert len(children) == 2
    assert {c.parent for c in children} == {"a0"}
    assert all(c.phase is Phase.SUCCEEDED for c in children)


def test_sync_task_from_sync_code(store: Any) -> None:
    run = flyte.run(sync_calls_sync, 1)
    assert run.outputs()[0] == 2 + 3
    assert len(by_name(run, "sync_inc")) == 2


def test_sync_task_from_async_code_starts_at_once_and_is_awaitable(store: Any) -> None:
    key = "sync-from-async"
    run = flyte.run(async_awaits_sync, key)
    assert run.outputs()[0] == "sync"
    assert events.pop(key) == ["child done", "parent awaits"]
    (child,) = by_name(run, "sync_marks")
    assert child.phase is Phase.SUCCEEDED


def test_aio_of_a_sync_task_from_async_code(store: Any) -> None:
    run = flyte.run(async_awaits_sync_aio, 41)
    assert run.outputs()[0] == 42
    assert len(by_name(run, "sync_inc")) == 1


def test_async_task_from_sync_code_returns_the_value(store: Any) -> None:
    run = flyte.run(sync_calls_async, 1)
    assert run.outputs()[0] == 2
    assert len(by_name(run, "async_inc")) == 1


@env.task
async def forwards(x: int) -> int:
    return await async_inc.forward(x) + sync_inc.forward(x)


def test_forward_inside_a_run_calls_the_body_without_an_action(store: Any) -> None:
    run = flyte.run(forwards, 1)
    assert run.outputs()[0] == 4
    assert [a.name for a in run.actions()] == ["engine.forwards"]


def test_unawaited_sync_handle_completes_before_its_parent(store: Any) -> None:
    key = "fire-and-forget"
    run = flyte.run(fire_and_forget, key)
    assert run.outputs()[0] == "parent returned"
    assert events.pop(key) == ["child done"]
    (child,) = by_name(run, "sync_marks")
    parent = root(run)
    assert child.phase is Phase.SUCCEEDED
    assert child.ended_at is not None and parent.ended_at is not None
    assert child.ended_at <= parent.ended_at


def test_tasks_call_tasks_to_any_depth(store: Any) -> None:
    run = flyte.run(depth, 6)
    assert run.outputs()[0] == 6
    acts = run.actions()
    assert len(acts) == 7 + 6
    assert all(a.phase is Phase.SUCCEEDED for a in acts)
    ids = {a.id: a for a in acts}
    # Every action except the root has a parent in the same run: one tree.
    for a in acts:
        assert a.parent is None or a.parent in ids


# --- the seed programs ---------------------------------------------------------------


@pytest.mark.parametrize("entry", [main, main_async], ids=["sync", "async"])
def test_seed_hello_records_eleven_actions(store: Any, entry: Any) -> None:
    run = flyte.run(entry, name="World")
    assert run.outputs()[0] == "Done"
    assert run.phase is Phase.SUCCEEDED
    acts = store.list_actions(run.name)
    assert len(acts) == 11
    assert all(a.phase is Phase.SUCCEEDED for a in acts)
    children = [a for a in acts if a.parent == "a0"]
    assert len(children) == 10
    assert len({c.id for c in children}) == 10, "ten calls with equal inputs get distinct ids"
    assert all(json.loads(c.inputs_json) == {"name": "World"} for c in children)
    assert all(json.loads(c.outputs_json) == "Hello, World!" for c in children)
    assert store.get_run(run.name).action_count == 11


# --- parallelism ---------------------------------------------------------------------
#
# Parallelism is asserted without a clock: a call returns only once `size` calls are in
# flight at once (a cyclic barrier), so an engine that ran them one by one never gets
# there and the task fails, naming how many it did gather. The peak is counted too, so a
# concurrency bound is checked from both sides.


class Meeting:
    """A cyclic barrier for task bodies, async (polling, loop-agnostic) or sync (threads)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.waiting = 0
        self.generation = 0
        self.barrier = threading.Barrier(size)

    def _arrive(self) -> int:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            generation = self.generation
            self.waiting += 1
            if self.waiting == self.size:
                self.waiting = 0
                self.generation += 1
            return generation

    def _leave(self) -> None:
        with self.lock:
            self.now -= 1

    def _gathered(self) -> str:
        return f"only {self.waiting} of {self.size} calls were in flight at once"

    async def meet(self) -> None:
        generation = self._arrive()
        deadline = time.monotonic() + 30
        while self.generation == generation:
            if time.monotonic() > deadline:
                raise TimeoutError(self._gathered())
            await asyncio.sleep(0.005)
        self._leave()

    def meet_sync(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            self.barrier.wait(timeout=30)
        except threading.BrokenBarrierError:
            raise TimeoutError(f"fewer than {self.size} calls were in flight at once") from None
        finally:
            self._leave()


meetings: dict[str, Meeting] = {}


@env.task
async def nap(i: int) -> int:
    await asyncio.sleep(0.2)
    return i


@env.task
async def meet(key: str, i: int) -> int:
    await meetings[key].meet()
    return i


@env.task
async def gather_100(key: str) -> list[int]:
    return list(await asyncio.gather(*(meet(key, i) for i in range(100))))


def test_gather_of_100_async_tasks_runs_in_parallel(store: Any, request: Any) -> None:
    key = request.node.name
    meetings[key] = Meeting(100)
    run = flyte.run(gather_100, key)
    assert run.outputs()[0] == list(range(100))
    assert meetings.pop(key).peak == 100
    assert len(store.list_actions(run.name)) == 101


@env.task
def sync_meet(key: str, i: int) -> int:
    meetings[key].meet_sync()
    # Later inputs finish first, so input order is not completion order.
    time.sleep((19 - i) * 0.002)
    return i * 10


@env.task
def map_20(key: str, concurrency: int) -> list[int]:
    return list(flyte.map(functools.partial(sync_meet, key), range(20), concurrency=concurrency))


def test_map_over_sync_tasks_is_parallel_bounded_and_ordered(store: Any, request: Any) -> None:
    key = request.node.name
    meetings[key] = Meeting(10)
    run = flyte.run(map_20, key, 10)
    assert run.outputs()[0] == [i * 10 for i in range(20)]
    peak = meetings.pop(key).peak
    assert peak == 10, f"concurrency bound not respected: {peak} at once"
    assert len(by_name(run, "sync_meet")) == 20


@env.task
async def map_aio(key: str, n: int) -> list[int]:
    return [x async for x in flyte.map.aio(functools.partial(meet, key), range(n), concurrency=5)]


def test_map_aio_is_parallel_bounded_and_ordered(store: Any, request: Any) -> None:
    key = request.node.name
    meetings[key] = Meeting(5)
    run = flyte.run(map_aio, key, 10)  # two waves of five
    assert run.outputs()[0] == list(range(10))
    assert meetings.pop(key).peak == 5


def test_map_outside_a_run_is_plain_map() -> None:
    assert list(flyte.map(sync_inc, [1, 2, 3])) == [2, 3, 4]


@env.task
def picky(x: int) -> int:
    if x % 2:
        raise ValueError(f"odd {x}")
    return x


@env.task
def map_collect(strict: bool) -> list[str]:
    out = []
    for r in flyte.map(picky, range(4), return_exceptions=not strict):
        out.append(f"{type(r).__name__}:{r}")
    return out


def test_map_return_exceptions_yields_errors_in_place(store: Any) -> None:
    run = flyte.run(map_collect, False)
    assert run.outputs()[0] == ["int:0", "ValueError:odd 1", "int:2", "ValueError:odd 3"]


def test_map_without_return_exceptions_raises_the_first_error(store: Any) -> None:
    with pytest.raises(ValueError, match="odd 1"):
        flyte.run(map_collect, True)


# --- deterministic ids ---------------------------------------------------------------


@env.task
async def jitter(x: int) -> int:
    await asyncio.sleep(((x * 7) % 5) / 100)
    return x


@env.task
async def fan(xs: list[int]) -> int:
    with flyte.group("g"):
        values = await asyncio.gather(*(jitter(x) for x in xs))
    return sum(values) + await jitter(0)


def test_action_ids_are_deterministic_across_runs(store: Any) -> None:
    xs = [3, 1, 3, 2, 1, 3]
    shapes = []
    for _ in range(2):
        run = flyte.run(fan, xs)
        shapes.append(sorted((a.id, a.parent, a.name, a.group) for a in run.actions()))
    assert shapes[0] == shapes[1]
    ids = [s[0] for s in shapes[0]]
    assert len(ids) == len(set(ids)) == len(xs) + 2
    # Other inputs give other ids; the same call (jitter(0) under a0) gives the same id.
    other = flyte.run(fan, [9, 9])
    nines = {a.id for a in other.actions() if a.parent and json.loads(a.inputs_json)["x"] == 9}
    assert len(nines) == 2 and not nines & set(ids)
    zero = {a.id for a in other.actions() if a.parent and json.loads(a.inputs_json)["x"] == 0}
    assert zero <= set(ids)


# --- retries -------------------------------------------------------------------------


@env.task(retries=flyte.RetryStrategy(count=3, backoff=flyte.Backoff(base=0.1, factor=2, cap=1)))
def flaky(key: str) -> str:
    c = flyte.ctx()
    assert c
    record(key, (c.attempt, time.monotonic()))
    if c.attempt < 3:
        raise ConnectionError(f"transient {c.attempt}")
    return f"ok on {c.attempt}"


def test_retries_with_backoff_record_every_attempt(store: Any) -> None:
    key = "flaky"
    run = flyte.run(flaky, key)
    assert run.outputs()[0] == "ok on 3"
    seen = events.pop(key)
    assert [a for a, _ in seen] == [1, 2, 3]
    gaps = [seen[i + 1][1] - seen[i][1] for i in range(2)]
    assert gaps[0] >= 0.09, gaps  # base
    assert gaps[1] >= 0.19, gaps  # base * factor
    a0 = root(run)
    assert a0.attempts == 3
    assert a0.phase is Phase.SUCCEEDED
    attempts = store.list_attempts(run.name, "a0")
    assert [a.phase for a in attempts] == [Phase.FAILED, Phase.FAILED, Phase.SUCCEEDED]
    assert [a.attempt for a in attempts] == [1, 2, 3]
    assert attempts[0].error_type == "ConnectionError"
    assert attempts[1].error_message == "transient 2"


@env.task(cache="auto")
async def cached_inc(x: int) -> int:
    return x + 1


@env.task
async def plain_fan(n: int) -> int:
    values = await asyncio.gather(*(async_inc(i) for i in range(n)))
    return sum(values) + await cached_inc(n)


def test_an_attempt_that_succeeded_at_once_in_process_is_read_from_its_action(
    store: Any,
) -> None:
    """Issue 13 (scale): an action that succeeded at its first attempt, inline, writes no
    attempts row (one row less per action of a big fan-out); every reader still sees it."""
    flyte.run(plain_fan, 3)  # fills the cache
    run = flyte.run(plain_fan, 3)
    actions = {a.id: a for a in run.actions()}
    attempts = store.list_attempts(run.name)
    hit = next(a for a in actions.values() if a.name == "engine.cached_inc")
    assert hit.cache_status.value == "hit"
    # The cache hit never ran: no attempt. Every other action: one, inline, as recorded.
    assert sorted(a.action for a in attempts) == sorted(i for i in actions if i != hit.id)
    for attempt in attempts:
        action = actions[attempt.action]
        assert (attempt.attempt, attempt.phase, attempt.where) == (1, Phase.SUCCEEDED, "inline")
        assert (attempt.started_at, attempt.ended_at) == (action.started_at, action.ended_at)
    (one,) = store.list_attempts(run.name, "a0")
    assert one.action == "a0"
    if isinstance(store, MemoryRunStore):
        return
    import sqlite3

    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT count(*) FROM attempts").fetchone()[0] == 0
        (count,) = conn.execute(
            "SELECT count(*) FROM attempts_v1 WHERE run = ? AND placement = ?",
            (run.name, '{"worker": "inline"}'),
        ).fetchone()
    assert count == len(attempts) == 4


@env.task(retries=1)
async def always_bad(x: int) -> int:
    raise KeyError(f"missing {x}")


@env.task
async def calls_always_bad() -> str:
    try:
        await always_bad(1)
    except KeyError as e:
        return f"caught {e.code}"  # type: ignore[attr-defined]
    return "not caught"


def test_exhausted_retries_raise_the_last_error(store: Any) -> None:
    run = flyte.run(calls_always_bad)
    assert run.outputs()[0] == "caught KeyError"
    (child,) = by_name(run, "always_bad")
    assert child.phase is Phase.FAILED
    assert child.attempts == 2
    assert child.error_type == "KeyError"
    assert len(store.list_attempts(run.name, child.id)) == 2


@env.task(retries=3)
async def hopeless(key: str) -> int:
    record(key, "try")
    raise NonRecoverableError("never going to work")


def test_non_recoverable_error_stops_retrying(store: Any) -> None:
    key = "hopeless"
    with pytest.raises(NonRecoverableError, match="never going to work"):
        flyte.run(hopeless, key)
    assert events.pop(key) == ["try"]
    (run_record,) = store.list_runs()
    assert run_record.phase is Phase.FAILED
    a0 = store.get_action(run_record.name, "a0")
    assert a0.attempts == 1
    assert a0.phase is Phase.FAILED
    assert len(store.list_attempts(run_record.name, "a0")) == 1


# --- timeouts ------------------------------------------------------------------------


# A body past its deadline is still blocked when the timeout is reported: the timeout
# does not wait for the body. `gate(key)` releases it once the test has seen the timeout;
# "ended" is recorded only by a body that ran to its end.
_gates: dict[str, threading.Event] = {}


def gate(key: str) -> threading.Event:
    return _gates.setdefault(key, threading.Event())


@env.task(timeout=1)
async def slow_async(key: str) -> str:
    await asyncio.sleep(30)
    record(key, "ended")
    return "too late"


@env.task(timeout=1)
def slow_sync(key: str) -> str:
    gate(key).wait(30)
    record(key, "ended")
    return "too late"


@pytest.mark.parametrize("task", [slow_async, slow_sync], ids=["async", "sync"])
def test_timeout_fails_with_task_timeout_error_at_the_deadline(
    store: Any, task: Any, request: Any
) -> None:
    key = request.node.name
    start = time.perf_counter()
    try:
        with pytest.raises(TaskTimeoutError) as info:
            flyte.run(task, key)
        assert key not in events, "the timeout waited for the body to end"
    finally:
        gate(key).set()
    elapsed = time.perf_counter() - start
    assert elapsed >= 0.9, f"timed out after {elapsed:.2f} s, before the 1 s deadline"
    assert isinstance(info.value, RuntimeUserError)
    (run_record,) = store.list_runs()
    assert run_record.phase is Phase.TIMED_OUT
    a0 = store.get_action(run_record.name, "a0")
    assert a0.phase is Phase.TIMED_OUT
    assert a0.error_type == "TaskTimeoutError"


@env.task
async def catches_timeout(which: str, key: str) -> str:
    t = slow_async if which == "async" else slow_sync
    try:
        await t.aio(key)
    except TaskTimeoutError as e:
        return f"caught {type(e).__name__}"
    return "no timeout"


@pytest.mark.parametrize("which", ["async", "sync"])
def test_parent_catches_a_child_timeout(store: Any, which: str, request: Any) -> None:
    key = request.node.name
    try:
        run = flyte.run(catches_timeout, which, key)
        assert key not in events, "the timeout waited for the body to end"
    finally:
        gate(key).set()
    assert run.outputs()[0] == "caught TaskTimeoutError"
    (child,) = by_name(run, f"slow_{which}")
    assert child.phase is Phase.TIMED_OUT
    assert run.phase is Phase.SUCCEEDED


_STOPPED_PROGRAM = """
import threading, time
import flyte
from flyte.errors import TaskTimeoutError

env = flyte.TaskEnvironment("stopped")
stopped = threading.Event()

@env.task(timeout=0.5)
def cooperative() -> None:
    try:
        for _ in range(400):  # 20 s of short sleeps: an injected stop lands between them
            time.sleep(0.05)
    except BaseException:
        stopped.set()  # only a body interrupted on its way gets here
        raise

flyte.init(store="memory")
try:
    flyte.with_runcontext(echo=False).run(cooperative)
except TaskTimeoutError:
    print("timed out")
print("stopped" if stopped.wait(15) else "still running")
"""


def _run_untraced(tmp_path: Path, program: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run `program` in a process without coverage: under a tracer the engine leaves a
    timed-out sync body to end on its own (see `raise_in_thread`), so what stops a body is
    checked untraced even in `make test`."""
    script = tmp_path / "program.py"
    script.write_text(program)
    env_ = {k: v for k, v in os.environ.items() if not k.startswith(("FLYTE_", "COVERAGE_"))}
    env_["FLYTE_HOME"] = str(tmp_path / "home")
    return subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env_, timeout=timeout
    )


def test_a_timed_out_sync_body_is_stopped(tmp_path: Path) -> None:
    proc = _run_untraced(tmp_path, _STOPPED_PROGRAM, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["timed", "out", "stopped"], proc.stdout


_LATE_TIMEOUT_PROGRAM = """
import sys, time
import flyte
from flyte._controller import executor

env = flyte.TaskEnvironment("late")


@env.task(timeout=0.3)
def busy() -> int:
    end = time.monotonic() + 0.8
    while time.monotonic() < end:  # runs past its timeout, holding the GIL often
        pass
    return 1


@env.task
def after(i: int) -> int:
    return i


def stack_once_the_body_left(ident):
    # The timeout reads where the body is, then interrupts it: make the body end and its
    # pool thread go idle in between, which real timing does now and then.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        frame, names = sys._current_frames().get(ident), []
        while frame is not None:
            names.append(frame.f_code.co_name)
            frame = frame.f_back
        if "busy" not in names:
            break
        time.sleep(0.01)
    time.sleep(0.3)
    return ""


executor.thread_stack = stack_once_the_body_left
first = flyte.with_runcontext(echo=False, raise_on_failure=False).run(busy)
print(first.phase.value)
second = flyte.with_runcontext(echo=False, wait=False).run(after, 7)
second.wait(timeout=20)
print(second.phase.value, second.outputs()[0] if second.phase.value == "SUCCEEDED" else "")
"""


def test_a_timeout_sent_as_a_sync_body_ends_does_not_hit_the_next_body(tmp_path: Path) -> None:
    """A timeout looks up the body's thread and then interrupts it. When the body ended in
    between, the interruption hit that pool thread afterwards: it died when handed its
    next body, and that action never ran (the next run hung)."""
    proc = _run_untraced(tmp_path, _LATE_TIMEOUT_PROGRAM, timeout=90)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["TIMED_OUT", "SUCCEEDED", "7"], proc.stdout + proc.stderr


# --- errors reach the parent as their own type ---------------------------------------


class PaymentError(Exception):
    def __init__(self, message: str, amount: int) -> None:
        super().__init__(message)
        self.amount = amount


@env.task
async def raises_value_error(x: int) -> int:
    raise ValueError(f"bad value {x}")


@env.task
def raises_value_error_sync(x: int) -> int:
    raise ValueError(f"bad value {x}")


@env.task
async def raises_custom() -> int:
    raise PaymentError("declined", 42)


@env.task
async def catches_value_error(sync: bool) -> dict[str, Any]:
    child = raises_value_error_sync if sync else raises_value_error
    try:
        await child(7)  # a coroutine (async child) or a started handle (sync child)
    except ValueError as e:
        return {
            "type": type(e).__name__,
            "runtime_user_error": isinstance(e, flyte.errors.RuntimeUserError),
            "code": e.code,  # type: ignore[attr-defined]
            "message": str(e),
        }
    return {}


@pytest.mark.parametrize("sync", [False, True], ids=["async-child", "sync-child"])
def test_parent_except_value_error_catches_a_child_value_error(store: Any, sync: bool) -> None:
    run = flyte.run(catches_value_error, sync)
    assert run.outputs()[0] == {
        "type": "ValueError",
        "runtime_user_error": True,
        "code": "ValueError",
        "message": "bad value 7",
    }
    (child,) = [a for a in run.actions() if a.parent == "a0"]
    assert child.phase is Phase.FAILED
    assert child.error_type == "ValueError"
    assert child.error_message == "bad value 7"
    assert "raises_value_error" in (child.traceback or "")


@env.task
def sync_catches_value_error() -> str:
    try:
        raises_value_error_sync(2)
    except ValueError as e:
        return f"{type(e).__name__} {e.code} {e}"  # type: ignore[attr-defined]
    return "no"


def test_sync_parent_catches_a_sync_child_value_error(store: Any) -> None:
    assert flyte.run(sync_catches_value_error).outputs()[0] == "ValueError ValueError bad value 2"


@env.task
async def catches_custom() -> str:
    try:
        await raises_custom()
    except PaymentError as e:
        return f"{e} {e.amount} {isinstance(e, RuntimeUserError)}"
    return "no"


def test_custom_exception_keeps_its_type_and_attributes(store: Any) -> None:
    assert flyte.run(catches_custom).outputs()[0] == "declined 42 True"


@env.task
async def catches_as_upstream() -> str:
    try:
        await raises_value_error(1)
    except flyte.errors.RuntimeUserError as e:
        return e.code
    return "no"


def test_upstream_style_runtime_user_error_catch_still_works(store: Any) -> None:
    assert flyte.run(catches_as_upstream).outputs()[0] == "ValueError"


def test_root_failure_raises_its_own_type_and_records_the_error(store: Any) -> None:
    with pytest.raises(ValueError, match="bad value 3"):
        flyte.run(raises_value_error, 3)
    (rec,) = store.list_runs()
    assert rec.phase is Phase.FAILED
    assert rec.error_type == "ValueError"
    assert rec.error_message == "bad value 3"
    assert "raises_value_error" in (rec.traceback or "")
    assert "/flyte/_controller" not in (rec.traceback or ""), "traceback shows only user frames"


# --- env vars and secrets ------------------------------------------------------------

env_vars_env = flyte.TaskEnvironment(
    "with_env",
    env_vars={"ENGINE_TEST_VAR": "inner", "ENGINE_TEST_PRESET": "inner"},
    secrets=[flyte.Secret(key="api-token"), flyte.Secret(key="db-pass", as_env_var="DB_PASSWORD")],
)


@env_vars_env.task
def read_env() -> dict[str, str | None]:
    names = ("ENGINE_TEST_VAR", "ENGINE_TEST_PRESET", "API_TOKEN", "DB_PASSWORD")
    return {k: os.environ.get(k) for k in names}


def test_env_vars_and_secrets_apply_while_a_task_runs(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ENGINE_TEST_VAR", raising=False)
    monkeypatch.setenv("ENGINE_TEST_PRESET", "outer")
    monkeypatch.delenv("API_TOKEN", raising=False)
    monkeypatch.delenv("DB_PASSWORD", raising=False)
    monkeypatch.setenv("FLYTE_SECRET_API_TOKEN", "t0ken")
    monkeypatch.setenv("FLYTE_SECRET_DB_PASS", "hunter2")
    run = flyte.run(read_env)
    assert run.outputs()[0] == {
        "ENGINE_TEST_VAR": "inner",
        "ENGINE_TEST_PRESET": "inner",
        "API_TOKEN": "t0ken",
        "DB_PASSWORD": "hunter2",
    }
    # Restored after the run.
    assert "ENGINE_TEST_VAR" not in os.environ
    assert os.environ["ENGINE_TEST_PRESET"] == "outer"
    assert "API_TOKEN" not in os.environ
    assert "DB_PASSWORD" not in os.environ
    # Settings are recorded on the action; secret values are not.
    settings = root(run).settings
    assert settings["env_vars"]["ENGINE_TEST_VAR"] == "inner"
    assert sorted(settings["secrets"]) == ["api-token", "db-pass"]
    stored = json.dumps([a.settings for a in run.actions()]) + json.dumps(
        [r.settings for r in store.list_runs()]
    )
    assert "t0ken" not in stored and "hunter2" not in stored


@env.task
def read_runctx_var() -> str | None:
    return os.environ.get("RUNCTX_VAR")


def test_with_runcontext_env_vars_apply_to_tasks(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNCTX_VAR", raising=False)
    run = flyte.with_runcontext(env_vars={"RUNCTX_VAR": "from-run"}).run(read_runctx_var)
    assert run.outputs()[0] == "from-run"
    assert "RUNCTX_VAR" not in os.environ


env_a = flyte.TaskEnvironment("conflict_a", env_vars={"ENGINE_CONFLICT": "1"})
env_b = flyte.TaskEnvironment("conflict_b", env_vars={"ENGINE_CONFLICT": "2"})


@env_a.task
def in_a() -> str:
    return os.environ["ENGINE_CONFLICT"]


@env_b.task
def in_b() -> str:
    return os.environ["ENGINE_CONFLICT"]


@env_a.task
def calls_both() -> str:
    return in_a() + in_b()


def test_conflicting_env_vars_raise_env_var_conflict_error(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ENGINE_CONFLICT", raising=False)
    with pytest.raises(EnvVarConflictError) as info:
        flyte.run(calls_both)
    message = str(info.value)
    assert "ENGINE_CONFLICT" in message
    assert "conflict_a" in message and "conflict_b" in message
    assert "process workers" in message
    assert "ENGINE_CONFLICT" not in os.environ


# --- settings recorded on every action ----------------------------------------------

settings_env = flyte.TaskEnvironment(
    "settings_env",
    resources=flyte.Resources(cpu=2, memory="1Gi"),
    reusable=flyte.ReusePolicy(replicas=2, idle_ttl=60),
    image=flyte.Image.from_debian_base().with_pip_packages("numpy"),
)


@settings_env.task(retries=2, timeout=60)
def configured() -> int:
    return 1


@settings_env.task
async def calls_configured() -> int:
    big = configured.override(resources=flyte.Resources(cpu=4, memory="8Gi"), retries=0)
    return await configured.aio() + await big.aio()


def test_settings_are_recorded_on_every_action(store: Any) -> None:
    # In process: this machine may have fewer CPUs than cpu=4 asks (process workers refuse).
    run = flyte.with_runcontext(executor="inline").run(calls_configured)
    assert run.outputs()[0] == 2
    big, plain = sorted(
        by_name_in(run, "settings_env.configured"), key=lambda a: a.settings["retries"]
    )
    assert plain.settings["env"] == "settings_env"
    assert plain.settings["resources"] == {"cpu": 2, "memory": "1Gi"}
    assert plain.settings["retries"] == 2
    assert plain.settings["timeout"] == 60
    assert plain.settings["reusable"]["replicas"] == 2
    assert plain.settings["cache"]["behavior"] == "disable"
    assert "numpy" in json.dumps(plain.settings["image"])
    assert big.settings["resources"] == {"cpu": 4, "memory": "8Gi"}
    assert big.settings["retries"] == 0


def by_name_in(run: flyte.Run, full_name: str) -> list[Any]:
    return [a for a in run.actions() if a.name == full_name]


# --- per-action log capture ----------------------------------------------------------


@env.task
async def chatty(i: int) -> int:
    for n in range(5):
        print(f"task{i} line{n}")
        await asyncio.sleep(0)
    print(f"task{i} to stderr", file=sys.stderr)
    logging.getLogger("engine.test").warning("task%d logged", i)
    print(f"task{i} no newline", end="")
    return i


@env.task
def chatty_sync(i: int) -> int:
    for n in range(5):
        print(f"sync{i} line{n}")
        time.sleep(0.002)
    return i


@env.task
async def chorus(n: int) -> int:
    print("parent says hi")
    a = await asyncio.gather(*(chatty(i) for i in range(n)))
    b = await asyncio.gather(*(chatty_sync.aio(i) for i in range(n)))
    return sum(a) + sum(b)


@env.task
def prints_from_two_threads(n: int) -> int:
    """Two threads of one action print pieces of one line at once."""
    import contextvars

    def pieces(mark: str) -> None:
        for _ in range(n):
            print(mark, end="")

    threads = [
        threading.Thread(target=contextvars.copy_context().run, args=(pieces, mark))
        for mark in "ab"
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print()
    return n


def test_pieces_of_a_line_printed_by_two_threads_of_one_action_are_all_kept(
    store: Any,
) -> None:
    """Two threads of an action (to_thread helpers, or a timed-out body beside its retry)
    print to one pending line: both took it, added their piece and put it back, so one
    piece was lost."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        run = flyte.with_runcontext(echo=False).run(prints_from_two_threads, 3000)
    finally:
        sys.setswitchinterval(before)
    text = "".join(line.line for line in store.logs(run.name))
    assert (text.count("a"), text.count("b")) == (3000, 3000)


def test_logs_are_captured_per_action_and_never_mixed(store: Any) -> None:
    run = flyte.with_runcontext(echo=False).run(chorus, 6)
    assert run.outputs()[0] == 30
    assert [(line.stream, line.line) for line in store.logs(run.name, action_id="a0")] == [
        ("stdout", "parent says hi")
    ]
    for child in by_name(run, "chatty"):
        i = json.loads(child.inputs_json)["i"]
        lines = [(ln.stream, ln.line) for ln in store.logs(run.name, action_id=child.id)]
        assert lines == [
            *[("stdout", f"task{i} line{n}") for n in range(5)],
            ("stderr", f"task{i} to stderr"),
            ("log", f"WARNING engine.test: task{i} logged"),
            ("stdout", f"task{i} no newline"),
        ]
    for child in by_name(run, "chatty_sync"):
        i = json.loads(child.inputs_json)["i"]
        lines = [ln.line for ln in store.logs(run.name, action_id=child.id)]
        assert lines == [f"sync{i} line{n}" for n in range(5)]
    everything = store.logs(run.name)
    assert len(everything) == 1 + 6 * 8 + 6 * 5
    seqs = [ln.seq for ln in everything]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_concurrent_runs_in_two_threads_keep_their_logs_apart(store: Any) -> None:
    runs: list[flyte.Run] = []

    def go() -> None:
        runs.append(flyte.with_runcontext(echo=False).run(chorus, 3))

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(runs) == 2
    for run in runs:
        assert run.outputs()[0] == 6
        for child in by_name(run, "chatty"):
            i = json.loads(child.inputs_json)["i"]
            lines = [ln.line for ln in store.logs(run.name, action_id=child.id)]
            assert lines[:5] == [f"task{i} line{n}" for n in range(5)]
            assert all(ln.run == run.name for ln in store.logs(run.name, action_id=child.id))
        assert len(store.logs(run.name)) == 1 + 3 * 8 + 3 * 5


def test_logs_are_echoed_to_the_terminal_by_default(
    store: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    flyte.run(chatty_sync, 1)
    assert "sync1 line4" in capsys.readouterr().out


@env.task(retries=1)
def prints_per_attempt() -> int:
    c = flyte.ctx()
    assert c
    print(f"attempt {c.attempt}")
    if c.attempt == 1:
        raise RuntimeError("first try fails")
    return c.attempt


def test_logs_record_the_attempt(store: Any) -> None:
    run = flyte.with_runcontext(echo=False).run(prints_per_attempt)
    assert [(ln.attempt, ln.line) for ln in store.logs(run.name)] == [
        (1, "attempt 1"),
        (2, "attempt 2"),
    ]
    assert [ln.line for ln in store.logs(run.name, attempt=2)] == ["attempt 2"]


# --- flyte.ctx and flyte.group -------------------------------------------------------


@env.task
async def where_am_i() -> dict[str, Any]:
    c = flyte.ctx()
    assert c
    return {"name": c.action.name, "run_name": c.action.run_name, "attempt": c.attempt,
            "mode": c.mode}  # fmt: skip


@env.task
async def where_is_my_child() -> dict[str, Any]:
    c = flyte.ctx()
    assert c
    return {"me": c.action.name, "child": await where_am_i()}


def test_ctx_is_falsy_outside_a_task() -> None:
    assert not flyte.ctx()


def test_ctx_inside_a_task(store: Any) -> None:
    run = flyte.run(where_is_my_child)
    out = run.outputs()[0]
    (child,) = by_name(run, "where_am_i")
    assert out["me"] == root(run).id
    assert out["child"] == {"name": child.id, "run_name": run.name, "attempt": 1, "mode": "local"}


@env.task
async def grouped() -> int:
    with flyte.group("first"):
        a = await asyncio.gather(async_inc(1), async_inc(2))
        with flyte.group("inner"):
            b = await async_inc(3)
    with flyte.group("second"):
        c = sync_inc(4)
    d = await async_inc(5)
    return sum(a) + b + await c + d


def test_groups_are_recorded_on_actions(store: Any) -> None:
    run = flyte.run(grouped)
    assert run.outputs()[0] == 2 + 3 + 4 + 5 + 6
    groups = {json.loads(a.inputs_json)["x"]: a.group for a in run.actions() if a.parent}
    assert groups == {1: "first", 2: "first", 3: "first/inner", 4: "second", 5: None}
    assert root(run).group is None


# --- the Run handle ------------------------------------------------------------------


@env.task
def pair(x: int) -> tuple[int, str]:
    return x, str(x)


@env.task
def nothing() -> None:
    return None


def test_run_handle(store: Any) -> None:
    run = flyte.run(sync_inc, 1)
    assert isinstance(run, flyte.Run)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", run.name), run.name
    assert run.name != "dry-run"
    assert run.phase is Phase.SUCCEEDED
    assert run.done()
    assert run.wait() is run
    out = run.outputs()
    assert isinstance(out, tuple)
    assert out == (2,)
    assert out[0] == 2
    assert run.inputs() == {"x": 1}
    assert run.name in run.url
    rec = store.get_run(run.name)
    assert rec.task == "engine.sync_inc"
    assert rec.pid == os.getpid()
    assert rec.started_at is not None and rec.ended_at is not None


def test_run_names_are_unique(store: Any) -> None:
    names = {flyte.run(sync_inc, i).name for i in range(20)}
    assert len(names) == 20
    assert {r.name for r in store.list_runs(limit=None)} == names


def test_named_run_and_duplicate_name(store: Any) -> None:
    run = flyte.with_runcontext(name="my-run-1").run(sync_inc, 1)
    assert run.name == "my-run-1"
    assert store.get_run("my-run-1").phase is Phase.SUCCEEDED
    with pytest.raises(flyte.errors.UserError, match="my-run-1"):
        flyte.with_runcontext(name="my-run-1").run(sync_inc, 1)


def test_tuple_output_gives_several_outputs(store: Any) -> None:
    run = flyte.run(pair, 5)
    number, text = run.outputs()
    assert (number, text) == (5, "5")
    assert len(run.outputs()) == 2


def test_none_output_is_a_one_tuple_like_upstream(store: Any) -> None:
    assert flyte.run(nothing).outputs() == (None,)


def test_run_is_not_a_task_raises(store: Any) -> None:
    with pytest.raises(flyte.errors.UserError):
        flyte.run(len, [1])  # type: ignore[arg-type]


async def test_run_aio_inside_an_event_loop(store: Any) -> None:
    run = await flyte.run.aio(async_calls_async, 2)
    assert run.outputs()[0] == 6
    assert run.phase is Phase.SUCCEEDED


@env.task
async def sleepy_async() -> str:
    await asyncio.gather(nap(1), async_forever())
    return "never"


@env.task
async def async_forever() -> None:
    await asyncio.sleep(30)


@env.task
def sleepy_sync() -> str:
    for _ in range(300):
        time.sleep(0.1)
    return "never"


@pytest.mark.parametrize("task", [sleepy_async, sleepy_sync], ids=["async", "sync"])
def test_abort_from_another_thread_ends_the_run_aborted(store: Any, task: Any) -> None:
    run = flyte.with_runcontext(raise_on_failure=False, echo=False).start(task)
    wait_for(lambda: [a for a in run.actions() if a.parent is None and a.phase is Phase.RUNNING])
    assert run.phase is Phase.RUNNING
    aborter = threading.Thread(target=run.abort)
    aborter.start()
    aborter.join()
    # The bodies sleep for 30 s: a run that ends within the wait was aborted, not finished.
    run.wait(timeout=20)
    assert run.done()
    assert run.phase is Phase.ABORTED
    assert isinstance(run.exception(), RunAbortedError)
    assert root(run).phase is Phase.ABORTED
    assert all(a.phase.is_terminal for a in run.actions())


def test_abort_while_flyte_run_blocks(store: Any) -> None:
    def abort_soon() -> None:
        (run,) = wait_for(store.list_runs)
        flyte.Run(run.name, store).abort()

    aborter = threading.Thread(target=abort_soon)
    aborter.start()
    with pytest.raises(RunAbortedError):
        flyte.with_runcontext(echo=False).run(sleepy_async)
    aborter.join()
    (rec,) = store.list_runs()
    assert rec.phase is Phase.ABORTED


class _AbortsAsSoonAsRecorded(MemoryRunStore):
    """Aborts each run the moment it is recorded, before its controller registered it."""

    def write(self, ops: Any) -> None:
        super().write(ops)
        for op in ops:
            if op[0] == "run_insert":
                flyte.Run(op[1]["name"], self).abort()


def test_an_abort_right_after_the_run_is_recorded_is_not_lost() -> None:
    flyte.init(store=_AbortsAsSoonAsRecorded())
    run = flyte.with_runcontext(raise_on_failure=False, echo=False).run(async_inc, 1)
    assert run.phase is Phase.ABORTED
    assert isinstance(run.exception(), RunAbortedError)


@env.task
def stubborn(i: int) -> int:
    time.sleep(1.5)  # one call that an injected exception cannot interrupt
    return i


@env.task
def sync_parent_maps() -> list[int]:
    return list(flyte.map(stubborn, range(4), concurrency=2))


@env.task
def sync_parent_calls() -> int:
    return stubborn(1)


@pytest.mark.parametrize("task", [sync_parent_maps, sync_parent_calls], ids=["map", "call"])
def test_abort_leaves_no_running_action(store: Any, task: Any) -> None:
    run = flyte.with_runcontext(raise_on_failure=False, echo=False).start(task)
    wait_for(lambda: by_name(run, "stubborn"))
    run.abort()
    run.wait(timeout=20)
    assert run.phase is Phase.ABORTED
    still = [(a.name, a.phase) for a in run.actions() if not a.phase.is_terminal]
    assert still == []


_ABORT_MAP_PROGRAM = """
import gc, sys, threading, time
import flyte

env = flyte.TaskEnvironment("abort_map")
started = threading.Event()
unwound = threading.Event()
running = []

@env.task
def step(i: int) -> int:
    running.append(i)
    started.set()
    try:
        time.sleep(0.6)
    finally:
        running.remove(i)
    return i

@env.task
def main() -> list[int]:
    try:
        return list(flyte.map(step, range(10), concurrency=2))
    finally:
        unwound.set()

def wait_until(condition):
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)

flyte.init(store="memory")
run = flyte.with_runcontext(raise_on_failure=False, echo=False).start(main)
assert started.wait(30)
run.abort()
run.wait(timeout=30)
# The running items return (or are stopped) and the parent unwinds.
wait_until(lambda: unwound.is_set() and not running)
gc.collect()
print(run.phase)
"""


def test_aborting_a_map_leaves_no_unawaited_coroutine(tmp_path: Path) -> None:
    script = tmp_path / "abort_map.py"
    script.write_text(_ABORT_MAP_PROGRAM)
    env_ = {k: v for k, v in os.environ.items() if not k.startswith("FLYTE_")}
    env_["FLYTE_HOME"] = str(tmp_path / "home")
    proc = subprocess.run(
        [sys.executable, "-W", "always::RuntimeWarning", str(script)],
        capture_output=True,
        text=True,
        env=env_,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ABORTED"
    assert "never awaited" not in proc.stderr, proc.stderr


@env.task
async def cancels_its_child() -> str:
    try:
        await asyncio.wait_for(async_forever(), 0.2)
    except TimeoutError:
        return "gave up"
    return "no"


def test_a_child_cancelled_by_its_parent_ends_aborted(store: Any) -> None:
    run = flyte.run(cancels_its_child)
    assert run.outputs()[0] == "gave up"
    (child,) = by_name(run, "async_forever")
    assert child.phase is Phase.ABORTED
    assert run.phase is Phase.SUCCEEDED


_user_var: Any = __import__("contextvars").ContextVar("user_var", default="unset")


@env.task
async def suspends_then_calls(n: int) -> list[Any]:
    """Awaits several times, then calls a task and reads the action it runs as."""
    _user_var.set(f"set by {n}")  # never seen by the caller
    seen = []
    for _ in range(3):
        await asyncio.sleep(0)
        seen.append(flyte.ctx().action.name if flyte.ctx().action else None)  # type: ignore[union-attr]
    child = await async_inc(n)
    return [child, len(set(seen)), _user_var.get()]


@env.task
async def awaits_and_gathers(n: int) -> list[Any]:
    direct = await suspends_then_calls(n)
    after_direct = _user_var.get()
    gathered = await asyncio.gather(*(suspends_then_calls(i) for i in range(n)))
    return [direct, after_direct, gathered]


def test_a_body_that_suspends_keeps_its_own_action_and_context(store: Any) -> None:
    """A body resumed many times still runs as its own action (its calls are its
    children), and context variables it sets stay its own, awaited or gathered."""
    run = flyte.run(awaits_and_gathers, 3)
    direct, after_direct, gathered = run.outputs()[0]
    assert direct == [4, 1, "set by 3"]
    assert after_direct == "unset"
    assert gathered == [[i + 1, 1, f"set by {i}"] for i in range(3)]
    actions = {a.id: a for a in run.actions()}
    for inc in by_name(run, "async_inc"):
        assert actions[inc.parent].name.endswith("suspends_then_calls")  # type: ignore[index]
    assert len(by_name(run, "suspends_then_calls")) == 4


@env.task
async def sleeps_with_cleanup(key: str) -> None:
    try:
        await asyncio.sleep(0)
        record(key, "resumed")
        await asyncio.sleep(60)
    finally:
        record(key, "cleaned up")


@env.task
async def cancels_a_resumed_child(key: str) -> str:
    child = asyncio.ensure_future(sleeps_with_cleanup(key))
    while "resumed" not in events.get(key, []):
        await asyncio.sleep(0.001)
    child.cancel()
    try:
        await child
    except asyncio.CancelledError:
        return "cancelled"
    return "not cancelled"


def test_cancelling_a_body_after_it_resumed_reaches_the_body(store: Any) -> None:
    key = f"cancel-resumed-{id(store)}"
    run = flyte.run(cancels_a_resumed_child, key)
    assert run.outputs()[0] == "cancelled"
    assert events[key] == ["resumed", "cleaned up"]
    (child,) = by_name(run, "sleeps_with_cleanup")
    assert child.phase is Phase.ABORTED


@env.task
def var_tuple(n: int) -> tuple[int, ...]:
    return tuple(range(n))


@env.task
def a_list() -> list[int]:
    return [1, 2]


@pytest.mark.parametrize(
    ("task", "args"),
    [
        (sync_inc, (1,)),
        (pair, (3,)),
        (a_list, ()),
        pytest.param(
            var_tuple,
            (3,),
        ),
    ],
    ids=["int", "pair", "list", "var-tuple"],
)
def test_a_run_read_back_from_the_store_gives_the_same_outputs(
    store: Any, task: Any, args: tuple[Any, ...]
) -> None:
    import flyte.remote

    live = flyte.run(task, *args)
    again = flyte.remote.Run.get(live.name)
    assert again.phase is Phase.SUCCEEDED
    assert again.wait() is again
    assert again.outputs() == live.outputs()
    assert again.inputs() == live.inputs()


def test_a_failed_run_read_back_from_the_store(store: Any) -> None:
    import flyte.remote

    with pytest.raises(ValueError):
        flyte.run(raises_value_error, 5)
    (rec,) = store.list_runs()
    again = flyte.remote.Run.get(rec.name)
    assert again.phase is Phase.FAILED
    with pytest.raises(flyte.errors.UserError, match="bad value 5"):
        again.outputs()


# --- values that cannot be stored ----------------------------------------------------


@env.task(retries=2)
def returns_lock() -> Any:
    return threading.Lock()


@env.task
async def catches_serialization() -> str:
    try:
        await returns_lock.aio()
    except SerializationError as e:
        return str(e)
    return "no"


def test_unpicklable_output_fails_the_action_with_a_clear_error(store: Any) -> None:
    with pytest.raises(SerializationError) as info:
        flyte.run(returns_lock)
    message = str(info.value)
    assert "output" in message and "engine.returns_lock" in message
    (rec,) = store.list_runs()
    assert rec.phase is Phase.FAILED
    a0 = store.get_action(rec.name, "a0")
    assert a0.phase is Phase.FAILED
    assert a0.error_type == "SerializationError"
    assert a0.attempts == 1, "a value that cannot be stored is not retried"
    run = flyte.run(catches_serialization)
    assert "output" in run.outputs()[0]


@env.task
def takes_anything(payload: Any, n: int) -> int:
    return n


@env.task
async def passes_a_lock() -> str:
    try:
        await takes_anything.aio(threading.Lock(), 1)
    except SerializationError as e:
        return str(e)
    return "no"


def test_unpicklable_input_error_names_the_input(store: Any) -> None:
    assert "payload" in flyte.run(passes_a_lock).outputs()[0]
    with pytest.raises(SerializationError, match="payload"):
        flyte.run(takes_anything, threading.Lock(), 1)


# --- Ctrl-C --------------------------------------------------------------------------

_CTRL_C_PROGRAM = """
import asyncio, sys
import flyte

env = flyte.TaskEnvironment("ctrlc")

@env.task
async def forever() -> None:
    print("started", flush=True)  # the run and its child are under way
    await asyncio.sleep(60)

@env.task
async def main() -> None:
    await forever()

flyte.init(store=sys.argv[1])
flyte.with_runcontext(name="ctrl-c-run").run(main)
"""


def test_ctrl_c_aborts_the_run_and_records_aborted(tmp_path: Path) -> None:
    from flyte._store.sqlite import SqliteRunStore

    script = tmp_path / "ctrlc.py"
    script.write_text(_CTRL_C_PROGRAM)
    db = tmp_path / "ctrlc.db"
    env_ = {k: v for k, v in os.environ.items() if not k.startswith("FLYTE_")}
    env_["FLYTE_HOME"] = str(tmp_path / "home")
    proc = subprocess.Popen(
        [sys.executable, str(script), str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env_,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "started"
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    rec = SqliteRunStore(db).get_run("ctrl-c-run")
    assert rec is not None
    assert rec.phase is Phase.ABORTED
    assert rec.interrupted is False, "a Ctrl-C abort is recorded by the driver, not reaped"


def test_echoed_lines_of_concurrent_tasks_never_interleave(
    store: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    env = flyte.TaskEnvironment("echo_env")

    @env.task
    def chatty(i: int) -> int:
        import sys
        import time

        for _ in range(20):  # one line in three writes, with thread switches between them
            sys.stdout.write(f"task{i} ")
            time.sleep(0.0005)
            sys.stdout.write("x" * 50 + " ")
            time.sleep(0.0005)
            sys.stdout.write(f"end{i}\n")
        return i

    @env.task
    def main() -> int:
        return sum(flyte.map(chatty, range(8), concurrency=8))

    flyte.run(main)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("task")]
    assert len(lines) == 160
    for line in lines:
        word, xs, end = line.split(" ")
        assert xs == "x" * 50 and end == "end" + word.removeprefix("task"), line


def test_runs_collect_garbage_less_often_and_put_the_thresholds_back() -> None:
    gc_env = flyte.TaskEnvironment("gc_thresholds")

    @gc_env.task
    async def seen() -> int:
        return gc.get_threshold()[0]

    before = gc.get_threshold()
    run = flyte.with_runcontext(echo=False).run(seen)
    assert run.outputs()[0] >= 20_000 > before[0]
    assert gc.get_threshold() == before


def test_thresholds_a_user_sets_during_a_run_are_kept() -> None:
    gc_env = flyte.TaskEnvironment("gc_user")

    @gc_env.task
    async def tune() -> None:
        gc.set_threshold(1234, 5, 6)

    before = gc.get_threshold()
    try:
        flyte.with_runcontext(echo=False).run(tune)
        assert gc.get_threshold() == (1234, 5, 6)
    finally:
        gc.set_threshold(*before)


def test_runs_switch_threads_sooner_and_put_the_interval_back() -> None:
    """The store's writer thread waits for the GIL while the engine computes: with the
    default 5 ms interval, a durable run waited longer for its last batch than it ran."""
    si_env = flyte.TaskEnvironment("switch_interval")

    @si_env.task
    async def seen() -> float:
        return sys.getswitchinterval()

    before = sys.getswitchinterval()
    assert before > 0.001
    run = flyte.with_runcontext(echo=False).run(seen)
    assert run.outputs()[0] <= 0.001
    assert sys.getswitchinterval() == before


def test_a_switch_interval_a_user_sets_during_a_run_is_kept() -> None:
    si_env = flyte.TaskEnvironment("switch_user")

    @si_env.task
    async def tune() -> None:
        sys.setswitchinterval(0.01)

    before = sys.getswitchinterval()
    try:
        flyte.with_runcontext(echo=False).run(tune)
        assert sys.getswitchinterval() == 0.01
    finally:
        sys.setswitchinterval(before)


# --- call identity: checked at the call, fixed at the start ---------------------------


@env.task
async def typed_leaf(x: int) -> int:
    return x


@env.task
async def calls_typed_leaf_wrongly() -> str:
    try:
        pending = typed_leaf("not a number")  # type: ignore[arg-type]
    except flyte.errors.TypeMismatchError:
        return "at the call"
    await pending
    return "at the await"


@env.task
async def awaits_equal_calls_out_of_order() -> list[int]:
    first, second, third = typed_leaf(7), typed_leaf(7), typed_leaf(8)
    return [await third, await second, await first]


def test_a_wrong_argument_fails_where_the_call_is_made(store: Any) -> None:
    # The identity of a call (digest, sequence number, id) is fixed when it starts, so a
    # wide fan-out holds only its arguments per call not yet started; its arguments are
    # still checked at the call, where the mistake is.
    assert flyte.run(calls_typed_leaf_wrongly).outputs()[0] == "at the call"


def test_equal_calls_awaited_out_of_order_get_distinct_stable_ids(store: Any) -> None:
    ids = []
    for _ in range(2):
        run = flyte.run(awaits_equal_calls_out_of_order)
        assert run.outputs()[0] == [8, 7, 7]
        leaves = [a for a in run.actions() if a.name.endswith("typed_leaf")]
        assert len(leaves) == 3 and len({a.id for a in leaves}) == 3
        ids.append(sorted((a.id, a.seq, a.inputs_json) for a in leaves))
    assert ids[0] == ids[1]  # the same program numbers its calls the same way every run
