"""Inputs checked against the task's annotations: what fits runs, what does not is named.

The message names the input, the task, the declared type and what was found, down to
the item or key that does not fit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal, TypedDict

import pytest

import flyte
from flyte.errors import TypeMismatchError

env = flyte.TaskEnvironment("checked")


class Point(TypedDict):
    x: int


@env.task
def literal(mode: Literal["fast", "slow"]) -> str:
    return mode


@env.task
def number(z: complex) -> str:
    return str(z)


@env.task
def mapping(counts: dict[str, int]) -> int:
    return sum(counts.values())


@env.task
def pair(p: tuple[int, str]) -> str:
    return f"{p[0]}{p[1]}"


@env.task
def many(xs: tuple[int, ...]) -> int:
    return sum(xs)


@env.task
def either(v: int | str) -> str:
    return str(v)


@env.task
def nothing(v: None) -> int:
    return 0


@env.task
def loose(
    point: Point, fn: Callable[[int], int] | None = None, it: Iterator[int] | None = None
) -> int:
    return point["x"]


@env.task
def annotated(n: Annotated[int, {"unhashable": "metadata"}]) -> int:
    return n


@pytest.mark.parametrize(
    ("task", "value", "found"),
    [
        (literal, "medium", "got 'medium'"),
        (number, "1j", "got str"),
        (mapping, {1: 2}, "got dict with a int key"),
        (mapping, {"a": "x"}, "got dict with a str value at 'a'"),
        (mapping, [("a", 1)], "got list"),
        (pair, (1, 2), "got tuple with a int at [1]"),
        (pair, (1, "a", 3), "got 3-tuple"),
        (pair, 5, "got int"),
        (many, (1, "2"), "got tuple with a str item at [1]"),
        (either, 1.5, "got float"),
        (nothing, 1, "got int"),
        (loose, [1], "got list"),
        (annotated, "3", "got str"),
    ],
)
def test_a_value_that_does_not_fit_is_named(task: Any, value: Any, found: str) -> None:
    with pytest.raises(TypeMismatchError) as info:
        flyte.run(task, value)
    assert f"of checked.{task.short_name} is declared" in str(info.value)
    assert found in str(info.value)


def test_values_that_fit_run() -> None:
    assert flyte.run(literal, "fast").outputs()[0] == "fast"
    assert flyte.run(number, 2).outputs()[0] == "2"  # an int is a valid complex
    assert flyte.run(mapping, {"a": 1, "b": 2}).outputs()[0] == 3
    assert flyte.run(pair, [7, "x"]).outputs()[0] == "7x"  # a list stands for a tuple
    assert flyte.run(many, (1, 2, 3)).outputs()[0] == 6
    assert flyte.run(either, "s").outputs()[0] == "s"
    assert flyte.run(nothing, None).outputs()[0] == 0
    assert flyte.run(loose, {"x": 4}).outputs()[0] == 4  # a TypedDict is a dict
    assert flyte.run(annotated, 5).outputs()[0] == 5
