"""`_params`: Python types as options, and command-line text as typed values."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import inspect
from pathlib import Path
from typing import Any, Literal, Optional

import pytest
import typer

from flyte_cli._params import InputSpec, convert, describe, example_value, split_docstring


class Size(enum.Enum):
    S = 1
    L = 2


@dataclasses.dataclass
class Inner:
    tags: list[str]


@dataclasses.dataclass
class Outer:
    inner: Inner
    size: Size = Size.S


def _convert(annotation: Any, raw: str) -> Any:
    return convert(InputSpec(name="value", annotation=annotation), raw)


@pytest.mark.parametrize(
    ("annotation", "raw", "expected"),
    [
        (int, " 7 ", 7),
        (float, "2", 2.0),
        (str, "[not json]", "[not json]"),
        (Optional[int], "none", None),
        (Optional[int], "5", 5),
        (int | str, "5", 5),
        (int | str, "five", "five"),
        (tuple[int, str], '[1, "a"]', (1, "a")),
        (set[int], "[1, 1, 2]", {1, 2}),
        (dict[str, list[int]], '{"a": [1]}', {"a": [1]}),
        (Literal[1, 2], "2", 2),
        (Size, "L", Size.L),
        (Size, "1", Size.S),
        (Outer, '{"inner": {"tags": ["x"]}, "size": 2}', Outer(Inner(["x"]), Size.L)),
        (dt.datetime, "2024-05-01T12:30", dt.datetime(2024, 5, 1, 12, 30)),
        (Path, "a/b.txt", Path("a/b.txt")),
        (Any, '{"a": 1}', {"a": 1}),
        (inspect.Parameter.empty, "plain words", "plain words"),
        (list, '[1, "a"]', [1, "a"]),
    ],
)
def test_convert(annotation: Any, raw: str, expected: Any) -> None:
    assert _convert(annotation, raw) == expected


@pytest.mark.parametrize(
    ("annotation", "raw", "message"),
    [
        (int, "1.5", "'1.5' is not a valid int"),
        (tuple[int, str], "[1]", "expected 2 items for tuple[int, str], got 1"),
        (Outer, '{"inner": {}}', "Inner needs field 'tags'"),
        (Outer, '{"inner": {"tags": [1]}}', "expected a string, got 1"),
        (Literal[1, 2], "3", "'3' is not one of 1, 2"),
        (list[int], "{}", "expected a JSON array for list[int]"),
        (bool, "maybe", "'maybe' is not a valid bool"),
    ],
)
def test_convert_errors_name_the_input_and_type(annotation: Any, raw: str, message: str) -> None:
    with pytest.raises(typer.BadParameter) as info:
        _convert(annotation, raw)
    assert message in str(info.value.format_message())
    assert info.value.param_hint == "'--value'"


def test_describe() -> None:
    assert describe(Optional[int]) == "int | None"
    assert describe(dict[str, list[int]]) == "dict[str, list[int]]"
    assert describe(Literal["a", "b"]) == "'a' | 'b'"
    assert describe(Outer) == "Outer"
    assert describe(inspect.Parameter.empty) == "any"


def test_flags_keep_upstream_spelling_too() -> None:
    assert InputSpec(name="x_list", annotation=int).flags == ("--x-list", "--x_list")
    assert InputSpec(name="x", annotation=int).flags == ("--x",)


def test_example_values() -> None:
    assert example_value(InputSpec(name="n", annotation=int)) == "3"
    assert example_value(InputSpec(name="n", annotation=int, default=10)) == "10"
    assert example_value(InputSpec(name="s", annotation=Size)) == "1"
    assert example_value(InputSpec(name="xs", annotation=list[int])) == "'[1, 2, 3]'"


def test_split_docstring() -> None:
    doc = """Add two numbers.

    Longer text.

    Args:
        x: the first number,
            continued.
        y (int): the second.

    Returns:
        The sum.
    """
    description, args = split_docstring(doc)
    assert description == "Add two numbers.\n\nLonger text."
    assert args == {"x": "the first number, continued.", "y": "the second."}
    assert split_docstring(None) == ("", {})
