"""`flyte rerun RUN [--recover] [--input VALUE ...]`: a new run of a recorded run's task.

Like `flyte run`, this is a lazy group: its "subcommand" is the run name, resolved to a
command with one option per input of the run's task (restored from the store), each
defaulting to the value the old run had.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from flyte_cli._command import (
    RUN_OPTIONS,
    RunOption,
    RunSettings,
    build_task_command,
    group_app,
)
from flyte_cli._errors import CliError
from flyte_cli.run import RunGroup, task_command

if TYPE_CHECKING:
    from typer._click import Command, Context

    from flyte import TaskTemplate

__all__ = ["RERUN_OPTIONS", "RerunGroup", "app"]

RERUN_OPTIONS: tuple[RunOption, ...] = (
    *(o for o in RUN_OPTIONS if o.key not in ("recover", "watch", "watch_paths")),
    RunOption(
        key="recover",
        decls=("--recover",),
        help="Reuse every action and trace that succeeded in RUN; only the rest executes.",
    ),
)


def _rerun(
    task: TaskTemplate[Any, Any], inputs: dict[str, Any], settings: RunSettings, ctx: Context
) -> None:
    from flyte._run import load_run_inputs
    from flyte.errors import FlyteError
    from flyte_cli._execute import execute
    from flyte_cli._options import get_store, require_run

    run = ctx.info_name or ""
    store = get_store()
    # The stored inputs are loaded only now, to run: `--help` never unpickles them.
    try:
        args, kwargs = load_run_inputs(store, require_run(store, run))
    except FlyteError as exc:
        raise CliError(f"cannot restore the inputs of run {run}: {exc}") from exc
    settings.recover = run if settings.recover_flag else None
    execute(task, {**task.bind(args, kwargs), **inputs}, settings, store=store)


def _load_run_task(run: str) -> TaskTemplate[Any, Any]:
    """The task of a recorded run (its inputs are loaded when it runs).

    Raises:
        CliError: no such run, or its task cannot be restored in this directory.
    """
    from flyte._run import load_recorded_task
    from flyte.errors import FlyteError
    from flyte_cli._options import get_store, require_run

    store = get_store()
    record = require_run(store, run)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # a snapshot pickles imports by module name
    try:
        return load_recorded_task(store, record)
    except (FlyteError, ImportError, SyntaxError, AttributeError) as exc:
        raise CliError(_why_not_restored(store, record, exc)) from exc


def _why_not_restored(store: Any, record: Any, exc: BaseException) -> str:
    """What went wrong restoring a run's task, and what the user can do instead."""
    from flyte.errors import FlyteError

    source = record.settings.get("source") or {}
    file = source.get("file")
    deployed = store.get_deployed(record.task) is not None
    instead = f", or run the deployed copy: flyte run --deployed {record.task}" if deployed else ""
    kept = f"its inputs and outputs stay recorded (flyte get io {record.name})"
    if file and not os.path.exists(file):
        snapshot = (
            "no snapshot of the task was stored"
            if store.run_task_blob(record.name) is None
            else "the task's stored snapshot imports that file"
        )
        return (
            f"run {record.name} ran {record.task} from {file}, which no longer exists "
            f"({snapshot}); restore the file to rerun it{instead}; {kept}"
        )
    # A flyte error's message says what failed; for anything else (the user's module
    # fails to import) the exception type is part of the story.
    detail = str(exc) if isinstance(exc, FlyteError) else f"{type(exc).__name__}: {exc}"
    return (
        f"cannot restore the task of run {record.name} ({detail}); fix the error and retry"
        f"{instead}; {kept}"
    )


class RerunGroup(RunGroup):
    """`flyte rerun`: resolves RUN lazily to a command with that run's task inputs."""

    def __init__(self, **attrs: Any) -> None:
        attrs["subcommand_metavar"] = "RUN [INPUTS]..."
        super().__init__(**attrs)

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if ctx.resilient_parsing:
            return build_task_command(
                cmd_name,
                input_params=[],
                taken=set(),
                options=RERUN_OPTIONS,
                callback=lambda **_: None,
                help="",
                epilog="",
            )
        task = _load_run_task(cmd_name)
        return task_command(
            cmd_name,
            task,
            usage=f"flyte rerun {cmd_name}",
            on_run=_rerun,
            defaults={},  # every input optional; the stored ones fill in at run time
            options=RERUN_OPTIONS,
        )

    def invoke(self, ctx: Context) -> Any:
        if not ctx._protected_args and not ctx.args:
            raise CliError(
                "missing RUN: flyte rerun RUN [--recover] [INPUTS] (see flyte rerun --help)"
            )
        return super(RunGroup, self).invoke(ctx)

    def shell_complete(self, ctx: Context, incomplete: str) -> list[Any]:
        if incomplete.startswith("-"):
            return super(RunGroup, self).shell_complete(ctx, incomplete)
        from typer._click.shell_completion import CompletionItem

        from flyte_cli._options import complete_run

        found = complete_run(ctx, incomplete)  # type: ignore[arg-type]
        return [CompletionItem(name, help=help) for name, help in found]


app = group_app(
    RerunGroup,
    RERUN_OPTIONS,
    help="Run a recorded run's task again, with its inputs (change some with options).\n\n"
    "With --recover every action and trace that succeeded in RUN is reused and marked "
    "recovered; only what failed or never ran executes.",
    epilog="""Examples:

\b
  flyte rerun RUN
  flyte rerun RUN --recover
  flyte rerun RUN --name Ada          # change an input
  flyte rerun RUN --help              # the inputs, with their previous values
""",
)
