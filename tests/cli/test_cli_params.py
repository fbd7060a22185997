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


@dataclasses.dataclass
class Window:
    start: dt.date
    sizes: tuple[int, str]
    rest: tuple[float, ...]
    mode: Literal["fast", "slow"]
    size: Size
    weights: dict[str, float]


def test_examples_suggest_values_that_parse_back() -> None:
    import flyte.io

    def example(annotation: Any, **kwargs: Any) -> str:
        return example_value(InputSpec(name="v", annotation=annotation, **kwargs))

    assert example(flyte.io.File) == "data.csv"
    assert example(Optional[flyte.io.Dir]) == "data/"
    assert example(dt.datetime) == "2024-05-01T12:00"
    assert example(dt.date) == "2024-05-01"
    assert example(Literal["x", "y"]) == "x"
    assert example(str, default="two words") == "'two words'"
    window = example(Window)
    assert window == (
        '\'{"start": "2024-05-01", "sizes": [1, "text"], "rest": [0.5], "mode": "fast", '
        '"size": 1, "weights": {"key": 0.5}}\''
    )
    # The suggestion is a value the option accepts.
    parsed = _convert(Window, window.strip("'"))
    assert parsed == Window(dt.date(2024, 5, 1), (1, "text"), (0.5,), "fast", Size.S, {"key": 0.5})


@pytest.mark.parametrize(
    ("annotation", "raw", "message"),
    [
        ("file", "no-such.csv", "file 'no-such.csv' does not exist"),
        ("dir", "no-such-dir", "directory 'no-such-dir' does not exist"),
        (list[int], "[1, null]", "expected int, got null"),
        (int | dt.date, '"soon"', "'soon' is not a valid int | date"),
    ],
)
def test_values_that_cannot_be_used_say_why(
    annotation: Any, raw: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flyte.io

    monkeypatch.chdir(tmp_path)
    tp = {"file": flyte.io.File, "dir": flyte.io.Dir}.get(annotation, annotation)
    with pytest.raises(typer.BadParameter) as info:
        _convert(tp, raw)
    assert message in info.value.format_message()


def test_a_local_file_and_folder_become_flyte_io_values(tmp_path: Path) -> None:
    import flyte.io

    (tmp_path / "data.csv").write_text("a,b\n")
    (tmp_path / "data").mkdir()
    assert isinstance(_convert(flyte.io.File, str(tmp_path / "data.csv")), flyte.io.File)
    assert isinstance(_convert(Optional[flyte.io.Dir], str(tmp_path / "data")), flyte.io.Dir)
