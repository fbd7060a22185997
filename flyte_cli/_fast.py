"""Keep `flyte --help` and completion calls fast: plain conversion for simple options.

Typer (0.29) converts every parameter value, even a missing one, through a pydantic
`TypeAdapter`, and importing pydantic costs 60-150 ms: more than the whole 0.15 s
budget of `flyte --help` or a completion call. Every option of this CLI is a str,
bool, int, float or list[str], so `lighten` gives those parameters a plain converter
up front and pydantic is never imported.

This leans on two Typer internals: the lazily built `_runtime_param` of a parameter
and the `typer._coercion.RuntimeParam` base class. If they change, `lighten` does
nothing and only speed is lost (the import-cost test in tests/cli notices).
"""

from __future__ import annotations

from typing import Any

__all__ = ["lighten"]

try:
    from typer._click import Context
    from typer._click.exceptions import BadParameter
    from typer._coercion import RuntimeParam
except ImportError:  # pragma: no cover - another Typer version: stay correct, lose speed
    RuntimeParam = None  # type: ignore[assignment,misc]

_SIMPLE = (str, int, float, bool, list[str])
HELP_NAMES = ["-h", "--help"]


if RuntimeParam is not None:

    class _Plain(RuntimeParam):  # type: ignore[misc,valid-type]
        """Convert str / int / float / bool / list[str] without pydantic (ranges checked)."""

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            annotation = self.annotation
            if annotation == list[str]:
                return [str(v) for v in value]
            if annotation is str:
                return str(value)
            if annotation is bool:
                if isinstance(value, bool):
                    return value
                text = str(value).strip().lower()
                if text in ("1", "true", "yes", "y", "on"):
                    return True
                if text in ("0", "false", "no", "n", "off"):
                    return False
                raise BadParameter(f"{value!r} is not a valid boolean", ctx=ctx, param=param)
            try:
                number = annotation(value)
            except (TypeError, ValueError):
                kind = "integer" if annotation is int else "number"
                raise BadParameter(
                    f"{value!r} is not a valid {kind}", ctx=ctx, param=param
                ) from None
            info = self.parameter_info
            low, high = getattr(info, "min", None), getattr(info, "max", None)
            if (low is not None and number < low) or (high is not None and number > high):
                bounds = (
                    f">= {low}"
                    if high is None
                    else f"<= {high}"
                    if low is None
                    else f"in {low}..{high}"
                )
                raise BadParameter(f"{number} is not {bounds}", ctx=ctx, param=param)
            return number


def _preset(param: Any) -> None:
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None or getattr(param, "_runtime_param", True) is not None:
        return
    if descriptor.annotation in _SIMPLE and descriptor.file_annotation is None:
        param._runtime_param = _Plain(
            annotation=descriptor.annotation, parameter_info=descriptor.parameter_info
        )


def lighten(command: Any) -> None:
    """Pre-set plain converters on `command`'s simple parameters and its subcommands'.

    The `--help` option is made here too (commands create it on first use and keep it),
    with the help names every command of this CLI uses.
    """
    if RuntimeParam is None:  # pragma: no cover
        return
    stack = [command]
    while stack:
        current = stack.pop()
        for param in getattr(current, "params", ()):
            _preset(param)
        if getattr(current, "_help_option", True) is None:
            _preset(current.get_help_option(Context(current, help_option_names=HELP_NAMES)))
        stack.extend(getattr(current, "commands", {}).values())
