"""`flyte deploy FILE [--env NAME] [--version V] [--dry-run]`: register tasks with versions."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from flyte_cli._errors import CliError
from flyte_cli._options import JsonOpt, complete_py_file, get_store
from flyte_cli._output import Column, console, emit

__all__ = ["deploy"]


def deploy(
    file: Annotated[
        str,
        typer.Argument(
            metavar="FILE",
            help="The Python file (or module, with -m) whose environments to deploy.",
            autocompletion=complete_py_file,
            show_default=False,
        ),
    ],
    module: Annotated[bool, typer.Option("-m", "--module", help="FILE is a module name.")] = False,
    env: Annotated[
        Optional[list[str]],
        typer.Option(
            "--env",
            metavar="NAME",
            help="Deploy only this environment (repeatable; its dependencies come along).",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        Optional[str],
        typer.Option(
            metavar="V",
            help="The version to register (default: a hash of the code).",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be registered; write nothing.")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Register the tasks of a file's environments in the task registry, with a version.

    Deployed tasks run with `flyte run --deployed NAME[:VERSION]` and are callable from
    other tasks through `flyte.remote.Task.get(NAME)`, even after the file changes.

    Examples:

    \b
      flyte deploy examples/hello.py
      flyte deploy examples/hello.py --env hello --version v1
      flyte deploy examples/hello.py --dry-run --json
    """
    import flyte
    from flyte._present import plural
    from flyte.store import did_you_mean
    from flyte_cli._execute import hint_lines
    from flyte_cli._loader import load

    loaded = load(file, module=module)
    envs = list(loaded.envs.values())
    if not envs:
        raise CliError(f"{file} defines no flyte.TaskEnvironment to deploy")
    if env:
        chosen = []
        for name in env:
            if name not in loaded.envs:
                hint = did_you_mean(name, loaded.envs)
                raise CliError(
                    f"no environment {name!r} in {file}{hint} (environments: {', '.join(loaded.envs)})"
                )
            chosen.append(loaded.envs[name])
        envs = chosen
    get_store()
    deployments = flyte.deploy(*envs, version=version, dry_run=dry_run)
    rows = [
        {"env": d.env, "version": d.version, "tasks": list(d.tasks), "dry_run": d.dry_run}
        for d in deployments
    ]
    emit(
        rows,
        [
            Column(key="env", header="ENV", style="cyan"),
            Column(key="version", header="VERSION"),
            Column(key="tasks", header="TASKS", fmt=lambda tasks: ", ".join(tasks)),
        ],
        as_json=json_,
    )
    if json_:
        return
    out = console()
    if dry_run:
        out.print("[yellow]Dry run: nothing was registered.[/]")
        return
    count = sum(len(d.tasks) for d in deployments)
    out.print(f"Registered {plural(count, 'task')}.")
    first = deployments[0]
    if first.tasks:
        hints = [
            (f"flyte run --deployed {first.tasks[0]}:{first.version}", "run a deployed task"),
            ("flyte get tasks", "list deployed tasks"),
        ]
        for line in hint_lines(hints):
            out.print(line, highlight=False)
