"""The root `flyte` command: global options, the verbs, and the one error boundary.

`FlyteGroup.main` is the only place where exceptions become messages and exit codes:

    0    success
    1    the run did not succeed (its traceback was printed), or flyte itself failed
    2    bad usage or input: one `Error: ...` line on stderr, no Python traceback
    130  interrupted with Ctrl-C

Help is rendered by Typer's plain formatter (`rich_markup_mode=None`): the rich one
imports ~80 ms of modules, which alone would break the 0.15 s budget of `flyte --help`.
Every verb imports the SDK, the engine and rich inside its function, never at import.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from flyte_cli import abort, cache, delete, deploy, get, logs, rerun, run, tui
from flyte_cli._command import ExamplesCommand
from flyte_cli._errors import CliError
from flyte_cli._fast import lighten
from flyte_cli._options import state

if TYPE_CHECKING:
    from typer._click import Context, HelpFormatter

__all__ = ["FlyteGroup", "app", "run_cli"]

_PANELS = ("Run", "Inspect", "Manage")
_ORDER = ("run", "rerun", "deploy", "tui", "get", "logs", "abort", "cache", "delete")


class FlyteGroup(TyperGroup):
    """The root group: commands listed by section, and the error → exit code boundary."""

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        sections: dict[str, list[tuple[str, str]]] = {}
        names = self.list_commands(ctx)
        names.sort(key=lambda n: _ORDER.index(n) if n in _ORDER else len(_ORDER))
        width = max(formatter.width - 6 - max(map(len, names), default=0), 30)
        for name in names:
            command = self.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            panel = getattr(command, "rich_help_panel", None) or "Commands"
            sections.setdefault(panel, []).append((name, command.get_short_help_str(width)))
        for panel in (*_PANELS, *(p for p in sections if p not in _PANELS)):
            if panel in sections:
                with formatter.section(panel):
                    formatter.write_dl(sections[panel])

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the CLI; translate every error into a message and an exit code."""
        state.reset()
        lighten(self)
        code = _guarded(
            lambda: super(FlyteGroup, self).main(
                args=args,
                prog_name=prog_name or "flyte",
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
        )
        if standalone_mode:
            sys.exit(code)
        return code


def _error(message: str) -> None:
    sys.stderr.write(f"Error: {message}\n")
    sys.stderr.flush()


def _guarded(call: Any) -> int:
    """Call the CLI; return its exit code, printing one line for every known error."""
    try:
        result = call()
    except typer.TyperException as exc:  # click's usage errors (vendored by Typer)
        if type(exc).__name__ == "NoArgsIsHelpError":  # `flyte`, `flyte get`: the help
            sys.stdout.write(exc.format_message() + "\n")
            return 0
        _traceback(exc)
        message = exc.format_message()
        ctx = getattr(exc, "ctx", None)
        if ctx is not None and exc.exit_code == 2:
            message = f"{message.rstrip('.')}. See '{ctx.command_path} --help'."
        _error(message)
        return exc.exit_code
    except CliError as exc:
        _traceback(exc)
        _error(exc.message)
        return exc.exit_code
    except typer.Abort:
        sys.stderr.write("Aborted.\n")
        return 130
    except Exception as exc:
        # Only flyte's own errors are expected here; anything else is a bug: show it.
        errors = sys.modules.get("flyte.errors")
        if errors is None or not isinstance(exc, errors.FlyteError):
            raise
        _traceback(exc)
        _error(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        if isinstance(exc, errors.UserError | errors.StoreError):
            return 2
        return 1
    return result if isinstance(result, int) else 0


def _traceback(exc: BaseException) -> None:
    if state.verbose:
        import traceback

        traceback.print_exception(exc)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"flyte-local {version('flyte-local')}")
        raise typer.Exit()


app = typer.Typer(
    cls=FlyteGroup,
    name="flyte",
    rich_markup_mode=None,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="flyte-local: run Flyte 2 tasks locally, live, and inspect every run.",
    epilog="""Examples:

\b
  flyte run examples/hello.py main --name World
  flyte get runs
  flyte get actions RUN
  flyte logs RUN --follow
  flyte tui
""",
)


@app.callback()
def _root(
    store: Annotated[
        Optional[str],
        typer.Option(
            "--store",
            metavar="PATH",
            help="The run store: a runs.db path or 'memory' (default: $FLYTE_STORE or $FLYTE_HOME/runs.db).",
            show_default=False,
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show Python tracebacks for errors.")
    ] = False,
    version: Annotated[
        Optional[bool],
        typer.Option(
            "--version", is_eager=True, callback=_version, help="Print the version and exit."
        ),
    ] = None,
) -> None:
    """flyte-local: run Flyte 2 tasks locally, live, and inspect every run."""
    state.store = store
    state.verbose = verbose


app.add_typer(run.app, name="run", rich_help_panel="Run")
app.add_typer(rerun.app, name="rerun", rich_help_panel="Run")
app.command("deploy", cls=ExamplesCommand, rich_help_panel="Run")(deploy.deploy)
app.command("tui", cls=ExamplesCommand, rich_help_panel="Run")(tui.tui)
app.add_typer(get.app, name="get", rich_help_panel="Inspect")
app.command("logs", cls=ExamplesCommand, rich_help_panel="Inspect")(logs.logs)
app.command("abort", cls=ExamplesCommand, rich_help_panel="Manage")(abort.abort)
app.add_typer(cache.app, name="cache", rich_help_panel="Manage")
app.add_typer(delete.app, name="delete", rich_help_panel="Manage")


def run_cli(argv: Sequence[str] | None = None) -> None:
    """Run `flyte` with `argv` (default: `sys.argv[1:]`) and exit with its code."""
    command = typer.main.get_command(app)
    command.main(args=argv, prog_name="flyte")
