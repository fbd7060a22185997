"""Task inputs as command-line options: Python type -> option, and text -> Python value.

Typer parses booleans (`--flag/--no-flag`); every other input arrives as text and is
converted here, so each bad value gets one message naming the input and the type it
expects. Supported: int, float, str, bool, Enum and Literal (choices), datetime/date,
Path, list/tuple/set/dict/dataclass/pydantic models (JSON), `flyte.io.File`/`Dir`
(existing local paths, uploaded with `from_local_sync`), Optional and unions.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import inspect
import json
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Optional, Union

import typer

__all__ = [
    "InputSpec",
    "convert",
    "describe",
    "example_value",
    "input_specs",
    "json_example",
    "option_parameter",
    "split_docstring",
]

_EMPTY = inspect.Parameter.empty


@dataclass(frozen=True, kw_only=True)
class InputSpec:
    """One task input: its name, resolved type and default (`inspect.Parameter.empty` if none)."""

    name: str
    annotation: Any
    default: Any = _EMPTY
    help: str = ""

    @property
    def required(self) -> bool:
        return self.default is _EMPTY

    @property
    def flags(self) -> tuple[str, ...]:
        """`--x-list`, plus `--x_list` when the name has underscores (upstream's spelling)."""
        dashed = "--" + self.name.replace("_", "-")
        plain = "--" + self.name
        return (dashed,) if dashed == plain else (dashed, plain)


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """(inner type, whether None is allowed) for `Optional[X]` / `X | None`."""
    if _is_union(tp):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) < len(typing.get_args(tp)):
            inner = args[0] if len(args) == 1 else Union[tuple(args)]
            return inner, True
    return tp, False


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) is Union or isinstance(tp, types.UnionType)


def _strip_annotated(tp: Any) -> Any:
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _flyte_io(tp: Any) -> str | None:
    """ "file" / "dir" for flyte.io.File / Dir (also parametrised, e.g. File[str])."""
    base = typing.get_origin(tp) or tp
    if isinstance(base, type) and base.__module__.startswith("flyte.io"):
        if base.__name__ == "File":
            return "file"
        if base.__name__ == "Dir":
            return "dir"
    return None


def describe(tp: Any) -> str:
    """A short name for a type: `int`, `list[int]`, `Color`, `File`, `int | None`."""
    tp = _strip_annotated(tp)
    if tp is _EMPTY or tp is Any:
        return "any"
    if tp is type(None):
        return "None"
    if _is_union(tp):
        return " | ".join(describe(a) for a in typing.get_args(tp))
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin is not None:
        args = ", ".join(describe(a) for a in typing.get_args(tp))
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{args}]" if args else name
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _metavar(tp: Any) -> str:
    tp = _strip_annotated(tp)
    io = _flyte_io(tp)
    if io == "file":
        return "FILE"
    if io == "dir":
        return "DIR"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "[" + "|".join(str(m.value) for m in tp) + "]"
    if typing.get_origin(tp) is typing.Literal:
        return "[" + "|".join(str(a) for a in typing.get_args(tp)) + "]"
    simple = {
        int: "INT",
        float: "FLOAT",
        str: "TEXT",
        Path: "PATH",
        dt.datetime: "DATETIME",
        dt.date: "DATE",
    }
    if tp in simple:
        return simple[tp]
    return "JSON"


def _choices(tp: Any) -> list[str]:
    tp = _strip_annotated(tp)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return [str(m.value) for m in tp]
    if typing.get_origin(tp) is typing.Literal:
        return [str(a) for a in typing.get_args(tp)]
    return []


def _show_default(value: Any) -> str | bool:
    if value is _EMPTY or value is None:
        return False
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, str | int | float | bool):
        return str(value)
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return repr(value)


_SECTIONS = ("Returns:", "Raises:", "Yields:", "Example:", "Examples:", "Note:", "Notes:")


def split_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """(description, {input: help}) from a Google-style docstring; `Args:` is taken out.

    Example:
        split_docstring("Add.\n\nArgs:\n    x: the first.\n")  ->  ("Add.", {"x": "the first."})
    """
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    description: list[str] = []
    args: dict[str, str] = {}
    section = None
    current = None
    for line in lines:
        stripped = line.strip()
        if stripped in ("Args:", "Arguments:", "Parameters:"):
            section, current = "args", None
            continue
        if stripped in _SECTIONS:
            section, current = "other", None
            continue
        if section == "args":
            if stripped and not line.startswith("        ") and ":" in stripped:
                name, _, text = stripped.partition(":")
                current = name.split("(")[0].strip().lstrip("*")
                args[current] = text.strip()
            elif stripped and current:
                args[current] = f"{args[current]} {stripped}".strip()
            elif not stripped:
                current = None
            continue
        if section is None:
            description.append(line)
    return "\n".join(description).strip(), args


def example_value(spec: InputSpec) -> str:
    """A plausible command-line value for an input, for the Examples in help texts."""
    inner, _ = _unwrap_optional(_strip_annotated(spec.annotation))
    if spec.default is not _EMPTY and spec.default is not None:
        shown = _show_default(spec.default)
        if isinstance(shown, str):
            return shown if shown.replace("_", "").replace("-", "").isalnum() else repr(shown)
    io = _flyte_io(inner)
    choices = _choices(inner)
    if io:
        return "data.csv" if io == "file" else "data/"
    if choices:
        return choices[0]
    samples = {int: "3", float: "0.5", str: "hello", Path: "data.txt", dt.date: "2024-05-01"}
    if inner in samples:
        return samples[inner]
    if inner is dt.datetime:
        return "2024-05-01T12:00"
    return "'" + json.dumps(json_example(inner)) + "'"


def json_example(tp: Any, depth: int = 0) -> Any:
    """A JSON value that `tp` accepts, built from its real fields and item types.

    `{"key": 1}` would be wrong for a dataclass without a field `key`: help texts and
    error messages suggest values that work.
    """
    tp, _ = _unwrap_optional(_strip_annotated(tp))
    if depth > 3:
        return None
    samples: dict[Any, Any] = {int: 1, float: 0.5, str: "text", bool: True}
    if tp in samples:
        return samples[tp]
    choices = _choices(tp)
    if choices:
        member = typing.get_args(tp)[0] if typing.get_origin(tp) is typing.Literal else None
        return member if member is not None else next(iter(tp)).value
    if tp in (dt.date, dt.datetime):
        return "2024-05-01" if tp is dt.date else "2024-05-01T12:00"
    origin = typing.get_origin(tp) or tp
    args = typing.get_args(tp)
    if origin in (list, set, frozenset):
        item = json_example(args[0], depth + 1) if args else 1
        return [1, 2, 3] if item == 1 else [item, item]
    if origin is tuple:
        if args and args[-1] is not Ellipsis:
            return [json_example(a, depth + 1) for a in args]
        return [json_example(args[0], depth + 1) if args else 1]
    if origin is dict:
        value = json_example(args[1], depth + 1) if len(args) == 2 else 1
        return {"key": value}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        try:
            hints = typing.get_type_hints(tp)
        except Exception:  # unresolvable annotations: the raw ones
            hints = {}
        return {
            f.name: json_example(hints.get(f.name, f.type), depth + 1)
            for f in dataclasses.fields(tp)
        }
    fields = getattr(tp, "model_fields", None)
    if isinstance(fields, dict):  # a pydantic v2 model
        return {name: json_example(info.annotation, depth + 1) for name, info in fields.items()}
    return 1


def input_specs(task: Any, *, docs: dict[str, str] | None = None) -> list[InputSpec]:
    """The inputs of a task (`flyte.TaskTemplate`) in signature order."""
    specs = []
    for name, param in task.signature.parameters.items():
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        annotation = task.input_types.get(name, param.annotation)
        specs.append(
            InputSpec(
                name=name,
                annotation=annotation,
                default=param.default,
                help=(docs or {}).get(name, ""),
            )
        )
    return specs


def option_parameter(
    spec: InputSpec, pyname: str, *, panel: str, optional: bool = False
) -> inspect.Parameter:
    """A keyword parameter whose `Annotated` Typer option reads this input.

    Args:
        spec: the input.
        pyname: the Python name of the parameter (unique within the command).
        panel: the help section the option is listed in.
        optional: make every input optional (reruns default to the previous inputs).
    """
    inner, _ = _unwrap_optional(_strip_annotated(spec.annotation))
    notes = [describe(spec.annotation)]
    shown = _show_default(spec.default)
    if optional:
        notes.append("default: as before")
    elif spec.required:
        notes.append("required")
    elif shown:
        notes.append(f"default: {shown}")
    help_text = f"{spec.help}  [{', '.join(notes)}]" if spec.help else f"[{', '.join(notes)}]"
    default = spec.default
    if inner is bool:
        decls = tuple(f"{flag}/--no-{flag[2:]}" for flag in spec.flags[:1]) + spec.flags[1:]
        if optional or default is _EMPTY or default is None:
            # A required bool has no natural default; the callback checks it was given.
            return inspect.Parameter(
                pyname,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Annotated[
                    Optional[bool],
                    typer.Option(*decls, help=help_text, rich_help_panel=panel, show_default=False),
                ],
                default=None,
            )
        return inspect.Parameter(
            pyname,
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[
                bool,
                typer.Option(*decls, help=help_text, rich_help_panel=panel, show_default=False),
            ],
            default=bool(default),
        )
    choices = _choices(inner)

    def complete(incomplete: str) -> list[str]:
        return [c for c in choices if c.startswith(incomplete)]

    option = typer.Option(
        *spec.flags,
        help=help_text,
        metavar=_metavar(inner),
        rich_help_panel=panel,
        show_default=False,
        autocompletion=complete if choices else None,
    )
    return inspect.Parameter(
        pyname,
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[Optional[str], option],
        default=None,
    )


def convert(spec: InputSpec, raw: Any) -> Any:
    """Turn the text given for an input into the value the task expects.

    Raises:
        typer.BadParameter: the text does not fit the type; the message names the type.
    """
    hint = f"'{spec.flags[0]}'"
    try:
        return _convert_text(spec.annotation, raw)
    except _Invalid as exc:
        raise typer.BadParameter(str(exc), param_hint=hint) from None


class _Invalid(ValueError):
    """A value that does not fit its type; the message says what was expected."""


def _convert_text(tp: Any, raw: Any) -> Any:
    tp = _strip_annotated(tp)
    if not isinstance(raw, str):
        return raw  # booleans parsed by typer
    inner, nullable = _unwrap_optional(tp)
    if nullable and raw.strip().lower() in ("none", "null"):
        return None
    io = _flyte_io(inner)
    if io is not None:
        return _to_io(io, inner, raw)
    if inner is str or inner is _EMPTY or inner is Any:
        if inner is str:
            return raw
        return _json_or_text(raw)
    if inner in (int, float, bool, Path, dt.datetime, dt.date) or _choices(inner):
        return _coerce(inner, raw, describe(inner))
    if _is_union(inner) and str in typing.get_args(inner):
        try:
            return _coerce(inner, _parse_json(raw, inner), describe(tp))
        except _Invalid:
            return raw
    return _coerce(inner, _parse_json(raw, inner), describe(tp))


def _json_or_text(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _parse_json(raw: str, tp: Any) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise _Invalid(
            f"{raw!r} is not valid JSON for {describe(tp)}; e.g. {_example(tp)}"
        ) from None


def _example(tp: Any) -> str:
    return "'" + json.dumps(json_example(tp)) + "'"


def _to_io(kind: str, tp: Any, raw: str) -> Any:
    import flyte.io

    path = Path(raw).expanduser()
    if kind == "file":
        if not path.is_file():
            raise _Invalid(f"file {raw!r} does not exist")
        return flyte.io.File.from_local_sync(str(path))
    if not path.is_dir():
        raise _Invalid(f"directory {raw!r} does not exist")
    return flyte.io.Dir.from_local_sync(str(path))


def _coerce(tp: Any, value: Any, expected: str) -> Any:
    """Check and convert a parsed JSON value (or text) to `tp`, recursively."""
    tp = _strip_annotated(tp)
    if tp is _EMPTY or tp is Any:
        return value
    inner, nullable = _unwrap_optional(tp)
    if value is None:
        if nullable or tp is type(None):
            return None
        raise _Invalid(f"expected {expected}, got null")
    tp = inner
    if _is_union(tp):
        for option in typing.get_args(tp):
            try:
                return _coerce(option, value, expected)
            except _Invalid:
                continue
        raise _Invalid(f"{value!r} is not a valid {expected}")
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Literal:
        for choice in args:
            if value == choice or (isinstance(value, str) and value == str(choice)):
                return choice
        raise _Invalid(f"{value!r} is not one of {', '.join(repr(a) for a in args)}")
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        for member in tp:
            if value in (member.value, member.name) or str(member.value) == str(value):
                return member
        raise _Invalid(f"{value!r} is not one of {', '.join(repr(str(m.value)) for m in tp)}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise _Invalid(f"{value!r} is not a valid bool")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise _Invalid(f"{value!r} is not a valid int")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise _Invalid(f"{value!r} is not a valid float")
    if tp is str:
        if isinstance(value, str):
            return value
        raise _Invalid(f"expected a string, got {json.dumps(value)}")
    if tp in (dt.datetime, dt.date):
        try:
            return tp.fromisoformat(str(value))
        except ValueError:
            raise _Invalid(f"{value!r} is not an ISO {tp.__name__} like 2024-05-01") from None
    if tp is Path:
        return Path(str(value))
    if origin in (list, set, frozenset, tuple) or tp in (list, set, frozenset, tuple):
        return _coerce_sequence(tp, origin or tp, args, value, expected)
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise _Invalid(f"expected a JSON object for {expected}, got {json.dumps(value)}")
        key_t, val_t = (*args, Any, Any)[:2]
        return {
            _coerce(key_t, k, describe(key_t)): _coerce(val_t, v, describe(val_t))
            for k, v in value.items()
        }
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _coerce_dataclass(tp, value)
    validate = getattr(tp, "model_validate", None)
    if callable(validate):  # pydantic v2 model
        try:
            return validate(value)
        except Exception as exc:
            first = str(exc).splitlines()
            raise _Invalid(f"not a valid {tp.__name__}: {' '.join(first[:3])}") from None
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise _Invalid(f"cannot read a {expected} from the command line")


def _coerce_sequence(tp: Any, origin: Any, args: tuple[Any, ...], value: Any, expected: str) -> Any:
    if not isinstance(value, list):
        raise _Invalid(f"expected a JSON array for {expected}, got {json.dumps(value)}")
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(args) != len(value):
            raise _Invalid(f"expected {len(args)} items for {expected}, got {len(value)}")
        return tuple(_coerce(t, v, describe(t)) for t, v in zip(args, value, strict=True))
    item_t = args[0] if args else Any
    items = [_coerce(item_t, v, describe(item_t)) for v in value]
    return origin(items) if origin is not list else items


def _coerce_dataclass(tp: type, value: Any) -> Any:
    if not isinstance(value, dict):
        raise _Invalid(f"expected a JSON object for {tp.__name__}, got {json.dumps(value)}")
    try:
        hints = typing.get_type_hints(tp)
    except Exception:  # unresolvable annotations: fall back to the raw ones
        hints = {}
    fields = {f.name: f for f in dataclasses.fields(tp)}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise _Invalid(f"{tp.__name__} has no field {unknown[0]!r} (fields: {', '.join(fields)})")
    kwargs = {}
    for name, f in fields.items():
        if name in value:
            ftype = hints.get(name, f.type)
            kwargs[name] = _coerce(ftype, value[name], f"{tp.__name__}.{name} ({describe(ftype)})")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise _Invalid(f"{tp.__name__} needs field {name!r}")
    return tp(**kwargs)
