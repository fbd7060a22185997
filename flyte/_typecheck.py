"""Check task inputs and outputs against the task's interface (its type annotations).

Upstream's type engine refuses a value that does not match the declared type; locally a
task annotated `-> int` that returned a `str` was recorded silently, and the mismatch
surfaced later, far from its cause. Checks are compiled once per annotation and are
deliberately structural and lenient where Python is: an `int` is a valid `float`, a
`bool` a valid `int`, and user classes are compared by isinstance, or by qualified name
when a module was reloaded (a rerun from source). What cannot be checked (type
variables, forward references, callables, protocols) is accepted.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
import typing
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from flyte.errors import TypeMismatchError

if TYPE_CHECKING:
    from flyte._task import TaskTemplate

__all__ = ["check_args", "check_inputs", "check_output"]

Check = Callable[[Any], "str | None"]
"""Returns None when the value fits, else what was found instead (for the message)."""

_EMPTY = inspect.Parameter.empty
_MAX_ITEMS = 10_000  # containers longer than this are checked on their first items only


def _ok(_: Any) -> str | None:
    return None


def _found(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def _name(tp: Any) -> str:
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__name__
    return str(tp).replace("typing.", "")


@functools.lru_cache(maxsize=4096)
def _compile_cached(tp: Any) -> Check:
    return _compile(tp)


def compile_check(tp: Any) -> Check:
    """The check for annotation `tp` (memoized when `tp` is hashable)."""
    try:
        return _compile_cached(tp)
    except TypeError:  # an unhashable annotation: compile it each time
        return _compile(tp)


def _is_instance(cls: type) -> Check:
    qualname = f"{cls.__module__}.{cls.__qualname__}"
    # Upstream's type engine builds a dataclass or pydantic model from its JSON form (a
    # dict), and programs written for it pass dicts: those are accepted as they are.
    from_dict = dataclasses.is_dataclass(cls) or hasattr(cls, "model_validate")

    def check(value: Any) -> str | None:
        if isinstance(value, cls) or (from_dict and isinstance(value, dict)):
            return None
        # A class re-imported under the same name (rerun from source, reloaded module).
        for base in type(value).__mro__:
            if f"{base.__module__}.{base.__qualname__}" == qualname:
                return None
        return _found(value)

    return check


def _compile(tp: Any) -> Check:
    if tp is Any or tp is object or tp is _EMPTY:
        return _ok
    if tp is None or tp is type(None):
        return lambda v: None if v is None else _found(v)
    if isinstance(tp, str | typing.ForwardRef | typing.TypeVar) or tp is typing.Self:
        return _ok
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return compile_check(args[0])
    if origin is typing.Union or origin is types.UnionType:
        checks = [compile_check(a) for a in args]

        def union(value: Any) -> str | None:
            for check in checks:
                if check(value) is None:
                    return None
            return _found(value)

        return union
    if origin is typing.Literal:
        # As upstream: a Literal of strings is an enum whose values are checked; any other
        # Literal (ints, enum members, mixed) is Any there, so it is not checked here.
        if not all(isinstance(a, str) for a in args):
            return _ok
        allowed = args
        return lambda v: None if v in allowed else repr(v)
    if tp is float:
        return lambda v: None if isinstance(v, float | int) else _found(v)
    if tp is complex:
        return lambda v: None if isinstance(v, complex | float | int) else _found(v)
    if tp in (int, str, bool, bytes, bytearray):
        return lambda v: None if isinstance(v, tp) else _found(v)
    if origin in (list, set, frozenset) or tp in (list, set, frozenset):
        container = origin or tp
        item = compile_check(args[0]) if args else _ok
        return _items(container, item)
    if origin is dict or tp is dict:
        key = compile_check(args[0]) if args else _ok
        val = compile_check(args[1]) if len(args) > 1 else _ok

        def mapping(value: Any) -> str | None:
            if not isinstance(value, dict):
                return _found(value)
            for n, (k, v) in enumerate(value.items()):
                if n >= _MAX_ITEMS:
                    break
                bad = key(k)
                if bad is not None:
                    return f"dict with a {bad} key"
                bad = val(v)
                if bad is not None:
                    return f"dict with a {bad} value at {k!r}"
            return None

        return mapping
    if origin is tuple or tp is tuple:
        return _tuple(args)
    if origin is not None:  # other generics (Iterator[int], Callable[...], ...): the origin
        return _is_instance(origin) if isinstance(origin, type) else _ok
    if typing.is_typeddict(tp):  # a dict at run time: its keys are not checked
        return lambda v: None if isinstance(v, dict) else _found(v)
    if isinstance(tp, type) and not getattr(tp, "_is_protocol", False):
        try:
            isinstance(None, tp)
        except TypeError:  # a class that refuses isinstance checks: nothing to check
            return _ok
        return _is_instance(tp)  # dataclasses, enums, pydantic models, File, Dir, ...
    return _ok


def _items(container: type[Any], item: Check) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, container):
            return _found(value)
        for n, element in enumerate(typing.cast("list[Any]", value)):
            if n >= _MAX_ITEMS:
                break
            bad = item(element)
            if bad is not None:
                return f"{container.__name__} with a {bad} item at [{n}]"
        return None

    return check


def _tuple(args: tuple[Any, ...]) -> Check:
    if not args or (len(args) == 2 and args[1] is Ellipsis):
        item = compile_check(args[0]) if args else _ok
        return _items(tuple, item)
    checks = [compile_check(a) for a in args]

    def check(value: Any) -> str | None:
        if not isinstance(value, tuple | list) or len(value) != len(checks):
            return _found(value) if not isinstance(value, tuple | list) else f"{len(value)}-tuple"
        for n, (c, element) in enumerate(zip(checks, value, strict=True)):
            bad = c(element)
            if bad is not None:
                return f"tuple with a {bad} at [{n}]"
        return None

    return check


def check_inputs(task: TaskTemplate[Any, Any], inputs: dict[str, Any]) -> None:
    """Check each input of a call of `task` against its annotation.

    An input left at its default is accepted as is (`x: int = None` is common Python).

    Raises:
        TypeMismatchError: an input does not fit; the message names it and both types.
    """
    _check_pairs(task, inputs.items())


def check_args(task: TaskTemplate[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """`check_inputs` of a call's arguments; positional ones of a plain signature are
    checked as they are, without binding them first (the common call, once per call).

    Raises:
        TypeError: the arguments do not match the signature.
        TypeMismatchError: an input does not fit.
    """
    names = task._names
    if task._simple and not kwargs and len(args) == len(names):
        _check_pairs(task, zip(names, args, strict=True))
    else:
        _check_pairs(task, task.bind(args, kwargs).items())


def _check_pairs(task: TaskTemplate[Any, Any], pairs: Iterable[tuple[str, Any]]) -> None:
    checks = (task._checks or _compile_task(task))[0]
    for name, value in pairs:
        check = checks.get(name)
        if check is None:
            continue
        bad = check(value)
        if bad is not None:
            param = task.signature.parameters.get(name)
            if param is not None and param.default is value:
                continue
            raise TypeMismatchError(
                f"input {name!r} of {task.name} is declared "
                f"{_name(task.input_types[name])} but got {bad}"
            )


def _compile_task(task: TaskTemplate[Any, Any]) -> tuple[dict[str, Check], Check | None]:
    """`task`'s input checks (typed inputs only) and output check, compiled once."""
    inputs = {
        name: compile_check(tp)
        for name, tp in task.input_types.items()
        if tp is not _EMPTY and tp is not Any
    }
    tp = task.output_type
    output = None if tp is _EMPTY or tp is Any else compile_check(tp)
    task._checks = (inputs, output)
    return task._checks


def check_output(task: TaskTemplate[Any, Any], value: Any) -> None:
    """Check what `task` returned against its return annotation.

    Raises:
        TypeMismatchError: the value does not fit; the message names both types.
    """
    check = (task._checks or _compile_task(task))[1]
    if check is None:
        return
    bad = check(value)
    if bad is not None:
        raise TypeMismatchError(
            f"{task.name} is declared to return {_name(task.output_type)} but returned {bad}"
        )
