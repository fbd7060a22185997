"""`flyte run FILE TASK [--input VALUE ...]`: a lazy group over the user's files and tasks.

`run` is a command group whose "subcommands" are files: `RunGroup.get_command` imports
the file and returns a `FileGroup` whose subcommands are its tasks, each a command with
one option per input (flyte-sdk's `TaskPerFileGroup`, modal's lazy groups). So `flyte
run FILE --help` lists the tasks, `flyte run FILE TASK --help` shows the inputs, and
shell completion walks the same tree. Completion reads the file's syntax tree instead
of importing it (see `_loader.scan_tasks`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from flyte_cli._command import (
    INPUTS_PANEL,
    RUN_OPTIONS,
    RunOption,
    RunSettings,
    TaskCommand,
    build_task_command,
    group_app,
    settings_from,
)
from flyte_cli._errors import CliError
from flyte_cli._fast import lighten

if TYPE_CHECKING:
    from typer._click import Command, Context

    from flyte import TaskTemplate
    from flyte_cli._loader import TaskInfo

__all__ = ["FileGroup", "OnRun", "RunGroup", "app", "example_command", "task_command"]

OnRun = Callable[["TaskTemplate[Any, Any]", dict[str, Any], RunSettings, "Context"], None]
"""What a task command does once its options are parsed: run (or rerun) the task."""

_EXAMPLES = """Examples:

\b
  flyte run examples/hello.py main --name World
  flyte run examples/hello.py --help           # the tasks of a file
  flyte run examples/hello.py main --help      # the inputs of a task
  flyte run --name my-run examples/hello.py main
  flyte run examples/pipeline.py main --no-cache --json
  flyte run examples/failing.py main           # a failing run exits 1
  flyte run -m examples.hello main --tui
  flyte run --deployed hello.main:v1 --name Ada
  flyte run --watch examples/pipeline.py main --n 10
  flyte run --executor process examples/hello.py main
"""

_GROUP_ONLY = (
    RunOption(
        key="module",
        decls=("-m", "--module"),
        help="FILE is a module name (`pkg.mod`) imported from the working directory.",
    ),
    RunOption(
        key="deployed",
        decls=("--deployed",),
        help="Run a deployed task: FILE is NAME[:VERSION] (`flyte get tasks` lists them).",
    ),
)


def _group_ctx(ctx: Context) -> Context | None:
    """The context of the nearest RunGroup / rerun group above `ctx`."""
    node: Context | None = ctx
    while node is not None and not isinstance(node.command, RunGroup):
        node = node.parent
    return node


def task_command(
    name: str,
    task: TaskTemplate[Any, Any],
    *,
    usage: str,
    on_run: OnRun,
    defaults: dict[str, Any] | None = None,
    options: tuple[RunOption, ...] = RUN_OPTIONS,
) -> TaskCommand:
    """The command of one task: an option per input plus the run options.

    Args:
        name: the command name (what the user typed for the task).
        task: the task.
        usage: the command line up to the task, for the Examples (`flyte run hello.py main`).
        on_run: called with (task, inputs, settings, ctx) once the options are parsed.
        defaults: previous inputs (rerun): every input becomes optional and defaults to them.
        options: the run options the command accepts after the task.
    """
    from flyte_cli import _params

    description, arg_docs = _params.split_docstring(task.__doc__)
    specs = _params.input_specs(task, docs=arg_docs)
    params: list[inspect.Parameter] = []
    taken: set[str] = set()
    for index, spec in enumerate(specs):
        params.append(
            _params.option_parameter(
                spec, f"in_{index}", panel=INPUTS_PANEL, optional=defaults is not None
            )
        )
        taken.update(spec.flags)
        taken.update(f"--no-{flag[2:]}" for flag in spec.flags)

    def callback(ctx: Context, **kwargs: Any) -> None:
        inputs: dict[str, Any] = dict(defaults or {})
        for index, spec in enumerate(specs):
            raw = kwargs.get(f"in_{index}")
            if raw is None:
                if defaults is None and spec.required:
                    raise CliError(
                        f"missing option '{spec.flags[0]}': the input {spec.name!r} "
                        f"({_params.describe(spec.annotation)}) is required. "
                        f"See '{ctx.command_path} --help'."
                    )
                continue
            inputs[spec.name] = _params.convert(spec, raw)
        group = _group_ctx(ctx)
        settings = settings_from(group.params if group else {}, kwargs)
        on_run(task, inputs, settings, ctx)

    example = example_command(usage, specs, rerun=defaults is not None)
    lines = description or f"Run the task {task.name}."
    if defaults is not None:
        lines += "\n\nInputs default to those of the run being rerun."
    required = [s.name for s in specs if s.required and defaults is None]
    if required:
        lines += f"\n\nRequired inputs: {', '.join(required)}."
    epilog = f"Examples:\n\n\b\n  {example}\n  {example} --json\n"
    short = description.splitlines()[0] if description else task.name
    return build_task_command(
        name,
        input_params=params,
        taken=taken,
        options=options,
        callback=callback,
        help=lines,
        epilog=epilog,
        short_help=short,
    )


def example_command(usage: str, specs: list[Any], *, rerun: bool = False) -> str:
    """`usage` plus the inputs a working example needs: every required one (with a value
    its type accepts) and at least the first."""
    from flyte_cli import _params

    example = usage
    for spec in specs:
        if (spec.required and not rerun) or spec is specs[0]:
            flag = spec.flags[0]
            if spec.annotation is bool:
                example += f" {flag}"
            else:
                example += f" {flag} {_params.example_value(spec)}"
    return example


def _start(
    task: TaskTemplate[Any, Any], inputs: dict[str, Any], settings: RunSettings, ctx: Context
) -> None:
    """`on_run` of `flyte run`: watch mode, or one run."""
    from flyte_cli._execute import execute
    from flyte_cli._options import get_store

    group = _group_ctx(ctx)
    params = group.params if group else {}
    if settings.watch:
        if params.get("opt_deployed"):
            raise CliError("--watch needs a FILE; it cannot watch a deployed task")
        _watch(ctx, settings, module=bool(params.get("opt_module")))
        return
    execute(task, inputs, settings, store=get_store())


def _check_watch_options(settings: RunSettings) -> None:
    """Refuse run options that make no sense on every save, instead of dropping them."""
    if settings.tui:
        from flyte_cli._execute import require_terminal

        require_terminal("--watch --tui")
    clashing = [
        flag
        for flag, given in (
            ("--name", settings.name is not None),
            ("--recover", settings.recover is not None or settings.recover_flag),
            ("--no-cache", settings.no_cache),
            ("--overwrite-cache", settings.overwrite_cache),
            ("--json", settings.json),
        )
        if given
    ]
    if clashing:
        raise CliError(
            f"{', '.join(clashing)} cannot be combined with --watch: watch mode starts a new, "
            "cached run on every save; drop the option or run without --watch"
        )


def _watch(ctx: Context, settings: RunSettings, *, module: bool) -> None:
    """Hand over to the watch loop (`flyte_cli._watch`, written separately)."""
    _check_watch_options(settings)
    if settings.executor:  # each watched run is a fresh process: it reads the variable
        import os

        os.environ["FLYTE_EXECUTOR"] = settings.executor
    try:
        from flyte_cli._watch import watch_loop
    except ImportError as exc:
        raise CliError(f"watch mode is not available: {exc}") from exc
    file_ctx = ctx.parent
    assert file_ctx is not None and ctx.info_name is not None and file_ctx.info_name is not None
    argv = _input_argv(ctx.meta.get("flyte.argv", []), ctx.command)
    code = watch_loop(
        file_ctx.info_name,
        ctx.info_name,
        argv,
        watch_paths=list(settings.watch_paths),
        tui=settings.tui,
        module=module,
    )
    raise typer.Exit(code)


def _input_argv(args: list[str], command: Command) -> list[str]:
    """The task-input part of `args`: the run options (and their values) taken out."""
    run_flags: dict[str, bool] = {}
    for param in command.params:
        if param.name and param.name.startswith("opt_"):
            for decl in param.opts:
                run_flags[decl] = not getattr(param, "is_flag", False)
    out: list[str] = []
    skip = False
    for token in args:
        if skip:
            skip = False
            continue
        flag, eq, _ = token.partition("=")
        if flag in run_flags:
            skip = run_flags[flag] and not eq
            continue
        out.append(token)
    return out


class FileGroup(TyperGroup):
    """The tasks of one file as subcommands; built by `RunGroup.get_command`."""

    def __init__(
        self, *, target: str, tasks: dict[str, Any], module: bool, static: bool, **attrs: Any
    ) -> None:
        super().__init__(
            name=target,
            no_args_is_help=True,
            subcommand_metavar="TASK [INPUTS]...",
            rich_markup_mode=None,
            context_settings={"help_option_names": ["-h", "--help"]},
            **attrs,
        )
        self.target = target
        self.tasks = tasks
        self.module = module
        self.static = static  # tasks found by scanning the source (completion only)
        self._built: dict[str, Command] = {}

    def list_commands(self, ctx: Context) -> list[str]:
        return list(self.tasks)

    def format_commands(self, ctx: Context, formatter: Any) -> None:
        rows = []
        for name, task in self.tasks.items():
            doc = inspect.getdoc(task) or "" if not self.static else task.summary
            rows.append((name, doc.strip().splitlines()[0] if doc.strip() else ""))
        if rows:
            with formatter.section("Tasks"):
                formatter.write_dl(rows)

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name in self._built:
            return self._built[cmd_name]
        if self.static:
            info = self.tasks.get(cmd_name)
            if info is None:
                return None
            command: Command = _static_command(cmd_name, info)
        else:
            from flyte_cli._loader import Loaded, find_task

            if ctx.resilient_parsing and cmd_name not in self.tasks:
                return None
            task = find_task(Loaded(target=self.target, module=None, tasks=self.tasks), cmd_name)  # type: ignore[arg-type]
            flag = "-m " if self.module else ""
            command = task_command(
                cmd_name, task, usage=f"flyte run {flag}{self.target} {cmd_name}", on_run=_start
            )
        self._built[cmd_name] = command
        return command


def _static_command(name: str, info: TaskInfo) -> Command:
    """A stand-in task command for completion: every input as a text option."""
    params = []
    taken: set[str] = set()
    for index, arg in enumerate(info.inputs):
        flags = tuple(dict.fromkeys(("--" + arg.replace("_", "-"), "--" + arg)))
        taken.update(flags)
        params.append(
            inspect.Parameter(
                f"in_{index}",
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Annotated[Optional[str], typer.Option(*flags)],
                default=None,
            )
        )
    return build_task_command(
        name,
        input_params=params,
        taken=taken,
        options=RUN_OPTIONS,
        callback=lambda **_: None,
        help=info.summary,
        epilog="",
    )


class RunGroup(TyperGroup):
    """`flyte run`: resolves FILE (or `-m` module, or `--deployed` name) lazily."""

    def __init__(self, **attrs: Any) -> None:
        attrs["subcommand_metavar"] = attrs.get("subcommand_metavar") or "FILE TASK [INPUTS]..."
        super().__init__(**attrs)
        self._files: dict[tuple[str, bool, bool], Command] = {}

    def list_commands(self, ctx: Context) -> list[str]:
        return []

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        module = bool(ctx.params.get("opt_module"))
        deployed = bool(ctx.params.get("opt_deployed"))
        key = (cmd_name, module, ctx.resilient_parsing)
        found = self._files.get(key)
        if found is not None:
            return found
        if ctx.resilient_parsing:
            if deployed:
                return None
            from flyte_cli._loader import scan_tasks

            infos = {info.name: info for info in scan_tasks(cmd_name, module=module)}
            command: Command = FileGroup(target=cmd_name, tasks=infos, module=module, static=True)
        elif deployed:
            command = _deployed_command(cmd_name)
        else:
            from flyte_cli._loader import load

            loaded = load(cmd_name, module=module)
            doc = (inspect.getdoc(loaded.module) or "").strip()
            summary = doc.split("\n\n")[0] if doc else ""
            flag = "-m " if module else ""
            first = "main" if "main" in loaded.tasks else next(iter(loaded.tasks), "TASK")
            usage = f"flyte run {flag}{cmd_name} {first}"
            example = usage
            if first in loaded.tasks:  # with the inputs it needs: the example must work
                from flyte_cli import _params

                example = example_command(usage, _params.input_specs(loaded.tasks[first]))
            command = FileGroup(
                target=cmd_name,
                tasks=loaded.tasks,
                module=module,
                static=False,
                help=(summary + "\n\n" if summary else "")
                + f"The tasks of {cmd_name}: run one with `flyte run {flag}{cmd_name} TASK [INPUTS]`.",
                epilog=f"Examples:\n\n\b\n  {usage} --help\n  {example}\n",
            )
        lighten(command)
        self._files[key] = command
        return command

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except CliError:
            # `--watch` on a file that does not import yet (a syntax error mid-edit): the
            # watch loop reports it and keeps watching, so hand over without the file.
            watching = ctx.params.get("opt_watch") or "--watch" in args[1:]
            if ctx.resilient_parsing or not watching or ctx.params.get("opt_deployed"):
                raise
            return args[0], _watch_unloaded(args[0]), args[1:]

    def invoke(self, ctx: Context) -> Any:
        if not ctx._protected_args and not ctx.args:
            raise CliError(
                "missing FILE and TASK: flyte run FILE TASK [INPUTS] (see flyte run --help)"
            )
        return super().invoke(ctx)

    def shell_complete(self, ctx: Context, incomplete: str) -> list[Any]:
        if (
            incomplete.startswith("-")
            or ctx.params.get("opt_module")
            or ctx.params.get("opt_deployed")
        ):
            return super().shell_complete(ctx, incomplete)
        from typer._click.shell_completion import CompletionItem

        from flyte_cli._options import complete_py_file

        return [CompletionItem(text) for text in complete_py_file(incomplete)]


def _watch_unloaded(target: str) -> Command:
    """A stand-in for a file that fails to import: `TASK [ARGS]...` straight to the loop."""
    watch_options = tuple(o for o in RUN_OPTIONS if o.key in ("watch", "watch_paths", "tui"))

    def callback(ctx: Context, task: str, **kwargs: Any) -> None:
        try:
            from flyte_cli._watch import watch_loop
        except ImportError as exc:
            raise CliError(f"watch mode is not available: {exc}") from exc
        group = _group_ctx(ctx)
        params = group.params if group else {}
        settings = settings_from(params, kwargs)
        _check_watch_options(settings)
        code = watch_loop(
            target,
            task,
            list(ctx.args),
            watch_paths=list(settings.watch_paths),
            tui=settings.tui,
            module=bool(params.get("opt_module")),
        )
        raise typer.Exit(code)

    task_param = inspect.Parameter(
        "task",
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        annotation=Annotated[str, typer.Argument(metavar="TASK")],
    )
    command = build_task_command(
        target,
        input_params=[],
        taken=set(),
        options=watch_options,
        callback=callback,
        help="",
        epilog="",
        leading=[task_param],
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )
    return command


def _deployed_command(target: str) -> Command:
    """The command of a deployed task, `NAME[:VERSION]` (latest version by default)."""
    import flyte.remote
    from flyte_cli._options import get_store

    get_store()  # installs --store for flyte.remote
    name, _, version = target.partition(":")
    task = flyte.remote.Task.get(
        name, version=version or None, auto_version="latest"
    ).resolve_task()
    return task_command(target, task, usage=f"flyte run --deployed {target}", on_run=_start)


app = group_app(
    RunGroup,
    _GROUP_ONLY,
    RUN_OPTIONS,
    help="Run a task from a Python file: a live tree of its actions, then its outputs.\n\n"
    "Task inputs become options (`--x 3`, `--flag/--no-flag`, JSON for lists, dicts and "
    "dataclasses, paths for File and Dir). Run options go before FILE, or after TASK when "
    "no input has the same name.",
    epilog=_EXAMPLES,
)
