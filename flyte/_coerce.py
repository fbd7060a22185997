"""Turn plain inputs into the types a task declares: dicts into dataclasses / pydantic models.

`flyte.run(task, cfg={"lr": 0.1})` for a task taking `cfg: Config` passes `Config(lr=0.1)`,
with the dataclass's defaults filling what the dict leaves out, as upstream does when it
converts inputs to the task's interface.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import TYPE_CHECKING, Any

from flyte.errors import InvalidOptionError

if TYPE_CHECKING:
    from flyte._task import TaskTemplate

__all__ = ["coerce_inputs", "coerce_value"]


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and hasattr(tp, "model_validate") and hasattr(tp, "model_fields")


def coerce_value(tp: Any, value: Any, *, what: str) -> Any:
    """`value` converted to `tp` when it is a dict for a dataclass / model (recursively).

    Raises:
        InvalidOptionError: the dict does not fit the type (unknown or missing fields).
    """
    if isinstance(value, dict):
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            hints = typing.get_type_hints(tp)
            names = {f.name for f in dataclasses.fields(tp) if f.init}
            unknown = sorted(set(value) - names)
            if unknown:
                raise InvalidOptionError(
                    f"{what}: {tp.__name__} has no field {unknown[0]!r}; fields: {', '.join(sorted(names))}"
                )
            fields = {
                k: coerce_value(hints.get(k), v, what=f"{what}.{k}") for k, v in value.items()
            }
            try:
                return tp(**fields)
            except TypeError as exc:
                raise InvalidOptionError(f"{what}: cannot make {tp.__name__}: {exc}") from None
        if _is_model(tp):
            try:
                return tp.model_validate(value)
            except Exception as exc:  # pydantic.ValidationError, without importing pydantic
                first = str(exc).splitlines()
                raise InvalidOptionError(
                    f"{what}: not a valid {tp.__name__}: {' '.join(first[:3])}"
                ) from None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (list, typing.List) and args and isinstance(value, list):  # noqa: UP006
        return [coerce_value(args[0], v, what=f"{what}[{i}]") for i, v in enumerate(value)]
    if origin in (dict, typing.Dict) and len(args) == 2 and isinstance(value, dict):  # noqa: UP006
        return {k: coerce_value(args[1], v, what=f"{what}[{k!r}]") for k, v in value.items()}
    if origin is typing.Union or type(tp).__name__ == "UnionType":
        if value is None:
            return value
        for option in args:
            if option is not type(None) and (dataclasses.is_dataclass(option) or _is_model(option)):
                return coerce_value(option, value, what=what)
    return value


def coerce_inputs(
    task: TaskTemplate[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The run's inputs with dicts turned into the dataclasses / models the task declares."""
    types = task.input_types
    if not any(isinstance(v, dict | list) for v in (*args, *kwargs.values())):
        return args, kwargs
    names = list(types)
    new_args = tuple(
        coerce_value(types[names[i]], v, what=f"input {names[i]!r}") if i < len(names) else v
        for i, v in enumerate(args)
    )
    new_kwargs = {
        k: coerce_value(types[k], v, what=f"input {k!r}") if k in types else v
        for k, v in kwargs.items()
    }
    return new_args, new_kwargs
