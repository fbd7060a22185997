"""Bad values get clear errors (issue 13, item 7)."""

from __future__ import annotations

import dataclasses
import enum
import sys
from typing import Any, Literal

import pytest

import flyte
from flyte._models import Phase
from flyte.errors import NestingTooDeepError, SerializationError, TypeMismatchError

env = flyte.TaskEnvironment("values")


@dataclasses.dataclass
class Point:
    x: int
    y: int


@env.task
def wrong_output() -> int:
    return "three"  # type: ignore[return-value]


@env.task
def takes_int(x: int) -> int:
    return x


@env.task
def takes_points(points: list[Point], scale: float = 1.0, tag: str = None) -> float:  # type: ignore[assignment]  # noqa: RUF013 - sloppy on purpose
    return sum(p.x for p in points) * scale


@env.task
def pass_none() -> int:
    return takes_int(None)  # type: ignore[arg-type]


@env.task
async def deep(n: int) -> int:
    return 0 if n == 0 else await deep(n - 1) + 1


@env.task
def sync_deep(n: int) -> int:
    return 0 if n == 0 else sync_deep(n - 1) + 1


@env.task
def nested_input(value: list[Any]) -> int:
    return 1


def test_an_output_of_the_wrong_type_fails_with_both_types_named(store: Any) -> None:
    with pytest.raises(
        TypeMismatchError, match=r"wrong_output is declared to return int but returned str"
    ):
        flyte.run(wrong_output)


def test_none_for_an_int_input_fails_naming_the_input(store: Any) -> None:
    with pytest.raises(
        TypeMismatchError, match=r"input 'x' of values.takes_int is declared int but got None"
    ):
        flyte.run(pass_none)
    with pytest.raises(TypeMismatchError, match=r"input 'x'"):
        flyte.run(takes_int, "1")


def test_values_that_fit_pass(store: Any) -> None:
    # An int is a valid float, a default is accepted as written, dataclasses by type.
    run = flyte.run(takes_points, [Point(1, 2), Point(3, 4)], 2)
    assert run.outputs()[0] == 8
    # A dict is a Point's JSON form (upstream builds the dataclass from it); a str is not.
    assert flyte.run(takes_points, [{"x": 1, "y": 2}]).phase is Phase.SUCCEEDED
    with pytest.raises(TypeMismatchError, match=r"list with a str item at \[1\]"):
        flyte.run(takes_points, [Point(1, 2), "3,4"])


def test_deep_nesting_gives_a_short_clear_limit_error(store: Any) -> None:
    # Async levels share one stack: limited. Sync levels each start a fresh one.
    assert flyte.run(sync_deep, 150).outputs()[0] == 150
    for task in (deep,):
        run = flyte.with_runcontext(echo=False, raise_on_failure=False).run(task, 400)
        assert run.phase is Phase.FAILED
        exc = run.exception()
        assert isinstance(exc, NestingTooDeepError), exc
        assert "100 levels" in str(exc) or "allows 100" in str(exc)
        assert len((run.record.traceback or "").splitlines()) < 400
        assert not any(a.phase in (Phase.RUNNING, Phase.QUEUED) for a in run.actions())
    assert flyte.run(deep, 50).outputs()[0] == 50


def test_nesting_a_smaller_stack_cannot_hold_gives_the_same_clear_error(store: Any) -> None:
    # Less stack than usual (a low recursion limit here; a tracer such as coverage, or a
    # deep caller, does the same): the clear error comes earlier, not a RecursionError.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(250)  # 90 levels need about 270 frames
    try:
        run = flyte.with_runcontext(echo=False, raise_on_failure=False).run(deep, 90)
    finally:
        sys.setrecursionlimit(limit)
    assert run.phase is Phase.FAILED
    exc = run.exception()
    assert isinstance(exc, NestingTooDeepError), exc
    assert "more than this thread's stack holds" in str(exc)
    assert not any(a.phase in (Phase.RUNNING, Phase.QUEUED) for a in run.actions())


def test_inputs_nested_too_deep_to_store_say_why(store: Any) -> None:
    for depth in (320, 5000):
        value: list[Any] = []
        for _ in range(depth):
            value = [value]
        with pytest.raises(SerializationError, match=r"input .value. .* nested too deeply"):
            flyte.run(nested_input, value)


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


@env.task
def mixed_literal(k: Literal[Color.RED, "medium", 3]) -> str:
    return str(k)


@env.task
def string_literal(level: Literal["low", "high"]) -> str:
    return level


def test_literals_are_checked_as_upstream_does(store: Any) -> None:
    # A Literal of strings is an enum upstream: its values are checked. Any other Literal
    # is Any upstream (its examples pass Color.GREEN for Literal[Color.RED, "medium", 3]).
    assert flyte.run(mixed_literal, Color.GREEN).outputs()[0] == "Color.GREEN"
    assert flyte.run(string_literal, "low").outputs()[0] == "low"
    with pytest.raises(TypeMismatchError, match="level"):
        flyte.run(string_literal, "medium")
