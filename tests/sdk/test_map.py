"""`flyte.map` and `flyte.map.aio`: failures in input order, misuse, and outside a run.

Every test in a run goes through both stores (the `store` fixture), through the public API.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest

import flyte
from flyte import Phase
from flyte.errors import UserError

env = flyte.TaskEnvironment("maps")


@env.task
async def halve(x: int) -> int:
    if x % 2:
        raise ValueError(f"{x} is odd")
    return x // 2


@env.task
def halve_sync(x: int) -> int:
    if x % 2:
        raise ValueError(f"{x} is odd")
    return x // 2


@env.task
async def aio_collect(xs: list[int], return_exceptions: bool) -> list[str]:
    out = []
    async for value in flyte.map.aio(halve, xs, concurrency=2, return_exceptions=return_exceptions):
        out.append(repr(value))
    return out


def _children(run: flyte.Run, name: str) -> list[Any]:
    return [a for a in run.actions() if a.name == f"maps.{name}"]


def test_map_aio_yields_failures_in_input_order(store: Any) -> None:
    run = flyte.run(aio_collect, [4, 3, 8, 5], True)
    assert run.outputs()[0] == ["2", "ValueError('3 is odd')", "4", "ValueError('5 is odd')"]
    phases = sorted(a.phase.value for a in _children(run, "halve"))
    assert phases == ["FAILED", "FAILED", "SUCCEEDED", "SUCCEEDED"]


def test_map_aio_raises_the_first_failure_without_return_exceptions(store: Any) -> None:
    run = flyte.with_runcontext(raise_on_failure=False, echo=False).run(
        aio_collect, [2, 7, 4, 9], False
    )
    assert run.phase is Phase.FAILED
    exc = run.exception()
    assert isinstance(exc, ValueError) and str(exc) == "7 is odd"
    # The map's other calls were stopped or finished: none is left running.
    assert all(a.phase.is_terminal for a in run.actions())


@env.task
def map_collect(xs: list[int], return_exceptions: bool) -> list[str]:
    return [repr(v) for v in flyte.map(halve_sync, xs, return_exceptions=return_exceptions)]


def test_map_raises_in_order_without_return_exceptions(store: Any) -> None:
    assert flyte.run(map_collect, [2, 3], True).outputs()[0] == ["1", "ValueError('3 is odd')"]
    run = flyte.with_runcontext(raise_on_failure=False, echo=False).run(
        map_collect, [6, 4, 1, 3], False
    )
    assert run.phase is Phase.FAILED
    assert str(run.exception()) == "1 is odd"


@env.task
async def blocking_map_in_async(xs: list[int]) -> list[int]:
    return list(flyte.map(halve, xs))


def test_the_blocking_map_in_an_async_task_runs_as_upstream(store: Any) -> None:
    # Upstream allows it (queues/*.py); the body gets a loop of its own (test_blocking_in_async.py).
    assert flyte.run(blocking_map_in_async, [2, 4]).outputs()[0] == [1, 2]


def plain_function(x: int) -> int:
    return x


@env.task
def maps_a_plain_function(xs: list[int]) -> list[int]:
    return list(flyte.map(plain_function, xs))


@env.task
async def partial_keyword(x: int, scale: int) -> int:
    return x * scale


@env.task
async def maps_a_partial(xs: list[int]) -> list[int]:
    scaled = functools.partial(partial_keyword, scale=10)
    return [v async for v in flyte.map.aio(scaled, xs, group_name="scaled")]


def test_map_needs_a_task_or_a_partial_of_one(store: Any) -> None:
    with pytest.raises(UserError, match=r"flyte.map needs a task \(or a functools.partial"):
        flyte.run(maps_a_plain_function, [1])
    run = flyte.run(maps_a_partial, [1, 2, 3])
    assert run.outputs()[0] == [10, 20, 30]
    assert len(_children(run, "partial_keyword")) == 3


# --- outside a run: plain calls, as the tasks would be --------------------------------------


def test_map_outside_a_run_yields_or_raises_failures() -> None:
    assert [repr(v) for v in flyte.map(halve_sync, [2, 5])] == ["1", "ValueError('5 is odd')"]
    with pytest.raises(ValueError, match="5 is odd"):
        list(flyte.map(halve_sync, [2, 5], return_exceptions=False))


async def test_map_aio_outside_a_run_awaits_async_bodies_and_calls_sync_ones() -> None:
    got = [repr(v) async for v in flyte.map.aio(halve, [4, 1])]
    assert got == ["2", "ValueError('1 is odd')"]
    got = [v async for v in flyte.map.aio(halve_sync, [8, 6])]
    assert got == [4, 3]
    with pytest.raises(ValueError, match="3 is odd"):
        async for _ in flyte.map.aio(halve, [3], return_exceptions=False):
            pass
