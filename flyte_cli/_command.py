"""Build the per-task command of `flyte run` / `flyte rerun` from a task's signature.

The command is an ordinary Typer command whose signature is generated: one option per
task input (see `_params`) plus the run options (`--name`, `--no-cache`, ...), so
`flyte run FILE TASK --no-cache` works as well as `flyte run --no-cache FILE TASK`. When
an input and a run option share a flag (`main(name: str)` and `--name`), the input wins
and the run option stays available before FILE.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from typer.core import TyperCommand

from flyte_cli._fast import lighten
from flyte_cli._options import complete_run

if TYPE_CHECKING:
    from typer._click import Context

__all__ = [
    "INPUTS_PANEL",
    "ExamplesCommand",
    "RUN_OPTIONS",
    "RUN_PANEL",
    "RunOption",
    "RunSettings",
    "TaskCommand",
    "build_task_command",
    "option_parameters",
    "plain_usage",
    "settings_from",
    "sub_app",
]

INPUTS_PANEL = "Inputs"
RUN_PANEL = "Run options"


@dataclass(frozen=True, kw_only=True)
class RunOption:
    """One run option, defined once for the `run` group, the task commands and `rerun`."""

    key: str
    decls: tuple[str, ...]
    help: str
    kind: str = "flag"  # "flag", "text" or "multi"
    metavar: str | None = None
    complete: Callable[..., Any] | None = None

    def parameter(self, *, panel: str = RUN_PANEL) -> inspect.Parameter:
        """A keyword parameter reading this option; None when not given."""
        annotation: Any
        if self.kind == "flag":
            annotation = Annotated[
                Optional[bool],
                typer.Option(
                    *self.decls, help=self.help, rich_help_panel=panel, show_default=False
                ),
            ]
        elif self.kind == "multi":
            annotation = Annotated[
                Optional[list[str]],
                typer.Option(
                    *self.decls,
                    help=self.help,
                    metavar=self.metavar,
                    rich_help_panel=panel,
                    show_default=False,
                ),
            ]
        else:
            annotation = Annotated[
                Optional[str],
                typer.Option(
                    *self.decls,
                    help=self.help,
                    metavar=self.metavar,
                    rich_help_panel=panel,
                    show_default=False,
                    autocompletion=self.complete,
                ),
            ]
        return inspect.Parameter(
            f"opt_{self.key}", inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=None
        )


RUN_OPTIONS: tuple[RunOption, ...] = (
    RunOption(
        key="name",
        decls=("--name",),
        kind="text",
        metavar="NAME",
        help="Name the run (default: a generated name like swift-otter-4f2a9c).",
    ),
    RunOption(
        key="no_cache", decls=("--no-cache",), help="Neither read nor write the cache in this run."
    ),
    RunOption(
        key="overwrite_cache",
        decls=("--overwrite-cache",),
        help="Execute cached tasks again and replace their cache entries.",
    ),
    RunOption(
        key="recover",
        decls=("--recover",),
        kind="text",
        metavar="RUN",
        complete=complete_run,
        help="Reuse every action and trace that succeeded in run RUN instead of executing it.",
    ),
    RunOption(
        key="executor",
        decls=("--executor",),
        kind="text",
        metavar="EXECUTOR",
        help="Where task bodies run: inline, process (worker processes), dask, dask://HOST:PORT "
        "(default: in process, tasks with resources or reusable in workers; $FLYTE_EXECUTOR).",
    ),
    RunOption(key="json", decls=("--json",), help="Print the result as JSON (no live view)."),
    RunOption(key="quiet", decls=("--quiet", "-q"), help="Print only the outputs (no live view)."),
    RunOption(key="tui", decls=("--tui",), help="Follow the run in the terminal dashboard."),
    RunOption(
        key="watch",
        decls=("--watch",),
        help="Run again on every save of the project's Python files.",
    ),
    RunOption(
        key="watch_paths",
        decls=("--watch-path",),
        kind="multi",
        metavar="PATH",
        help="Another file or directory --watch watches, besides the project root (repeatable).",
    ),
)


@dataclass
class RunSettings:
    """The run options of one invocation, merged from before FILE and after TASK."""

    name: str | None = None
    no_cache: bool = False
    overwrite_cache: bool = False
    recover: str | None = None
    recover_flag: bool = False
    executor: str | None = None
    json: bool = False
    quiet: bool = False
    tui: bool = False
    watch: bool = False
    watch_paths: list[str] = field(default_factory=list)


def option_parameters(
    options: Sequence[RunOption], *, taken: set[str] | None = None
) -> list[inspect.Parameter]:
    """Parameters for `options`, leaving out those whose flags are in `taken`."""
    taken = taken or set()
    return [o.parameter() for o in options if not (set(o.decls) & taken)]


def group_app(
    cls: type[typer.core.TyperGroup], *option_sets: Sequence[RunOption], help: str, epilog: str
) -> typer.Typer:
    """A Typer app for a lazy click group (`run`, `rerun`) whose callback takes `option_sets`.

    The callback does nothing itself: the group reads the parsed options from its context.
    """

    def callback(**kwargs: Any) -> None:
        """Parse the group's run options; the group's commands act on them."""

    params = [
        inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
        *(p for options in option_sets for p in option_parameters(options)),
    ]
    callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    callback.__annotations__ = {p.name: p.annotation for p in params}
    app = typer.Typer(
        cls=cls,
        rich_markup_mode=None,
        add_completion=False,
        no_args_is_help=True,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback(help=help, epilog=epilog)(callback)
    return app


def settings_from(*layers: dict[str, Any]) -> RunSettings:
    """Merge `opt_*` values of several contexts; later layers win where given."""
    settings = RunSettings()
    for layer in layers:
        for key, value in layer.items():
            if not key.startswith("opt_") or value is None:
                continue
            name = key[len("opt_") :]
            if name == "watch_paths":
                settings.watch_paths = [*settings.watch_paths, *value]
            elif name == "recover" and isinstance(value, bool):
                settings.recover_flag = settings.recover_flag or value
            elif hasattr(settings, name):
                setattr(settings, name, value)
    return settings


class ExamplesCommand(TyperCommand):
    """A command whose docstring's `Examples:` section is printed last, after the options.

    Click prints the whole docstring before the options; moving the examples into the
    epilog keeps docstrings in Google style while every help page ends with Examples.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        text = kwargs.get("help") or ""
        head, marker, examples = text.partition("Examples:")
        if marker and not kwargs.get("epilog"):
            kwargs["help"] = head.rstrip()
            kwargs["epilog"] = marker + examples.rstrip("\n ") + "\n"
        super().__init__(*args, **kwargs)

    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        return plain_usage(self, ctx)


def plain_usage(command: Any, ctx: Context) -> list[str]:
    """Usage pieces with arguments as `RUN [ACTION]`, not Typer's `{RUN} [[ACTION]]`."""
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in command.get_params(ctx):
        if param.param_type_name != "argument":
            pieces.extend(param.get_usage_pieces(ctx))
            continue
        name = (param.metavar or param.name or "").strip("[]")
        if param.nargs != 1 and not name.endswith("..."):
            name += "..."
        pieces.append(name if param.required else f"[{name}]")
    return pieces


def sub_app(*, help: str, epilog: str) -> typer.Typer:
    """A verb's group of subcommands (`flyte get ...`, `flyte cache ...`), set up alike."""
    app = typer.Typer(
        rich_markup_mode=None,
        no_args_is_help=True,
        add_completion=False,
        context_settings={"help_option_names": ["-h", "--help"]},
        help=help,
        epilog=epilog,
    )

    # A callback keeps a one-command app a group: `flyte cache clear`, not `flyte cache`.
    def group() -> None:
        pass

    app.callback()(group)
    return app


class TaskCommand(TyperCommand):
    """A task's command; it keeps the raw arguments so `--watch` can pass them on."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        ctx.meta["flyte.argv"] = list(args)
        return super().parse_args(ctx, args)


def build_task_command(
    name: str,
    *,
    input_params: Sequence[inspect.Parameter],
    taken: set[str],
    options: Sequence[RunOption],
    callback: Callable[..., Any],
    help: str,
    epilog: str,
    short_help: str | None = None,
    leading: Sequence[inspect.Parameter] = (),
    context_settings: dict[str, Any] | None = None,
) -> TaskCommand:
    """A Typer command named `name` with the given input and run-option parameters.

    Args:
        name: the command name (the task name as typed).
        input_params: keyword parameters from `_params.option_parameter`.
        taken: every flag the inputs use (`--name`, `--no-flag`, ...).
        options: run options to add, unless an input already uses one of their flags.
        callback: called with `ctx` and every parameter by its Python name.
        help: the help text (the task's docstring).
        epilog: text after the options (the Examples).
        short_help: the one-line summary in the file's task list.
        leading: parameters before the inputs (positional arguments).
        context_settings: extra click context settings.
    """
    params = [
        inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
        *leading,
        *input_params,
        *option_parameters(options, taken=taken),
    ]

    def invoke(**kwargs: Any) -> Any:
        return callback(**kwargs)

    invoke.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    invoke.__annotations__ = {p.name: p.annotation for p in params}
    invoke.__name__ = name
    app = typer.Typer(rich_markup_mode=None, add_completion=False)
    app.command(
        name=name,
        cls=TaskCommand,
        help=help,
        epilog=epilog,
        short_help=short_help,
        context_settings={"help_option_names": ["-h", "--help"], **(context_settings or {})},
    )(invoke)
    command = typer.main.get_command(app)
    assert isinstance(command, TaskCommand)
    lighten(command)
    return command
