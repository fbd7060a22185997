"""The root `flyte` command: global options, the verbs, and the one error boundary.

`FlyteGroup.main` is the only place where exceptions become messages and exit codes:

    0    success
    1    the run did not succeed (its traceback was printed), or flyte itself failed
    2    bad usage or input: one `Error: ...` line on stderr, no Python traceback
    130  interrupted with Ctrl-C

`flyte --help` and completion calls have a 0.15 s budget, so:

- the verbs are a lazy group (modal's `entry_point.py`): `VERBS` names each verb's
  module, section and one-line summary, and a verb's module is imported and its
  command built only when that verb is used;
- help uses Typer's plain formatter (`rich_markup_mode=None`): the rich one imports
  ~80 ms of modules;
- every verb imports the SDK, the engine and rich inside its function, never at import.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from flyte_cli._errors import CliError
from flyte_cli._fast import lighten
from flyte_cli._options import state, store_url

if TYPE_CHECKING:
    from typer._click import Command, Context, HelpFormatter

__all__ = ["VERBS", "FlyteGroup", "app", "run_cli"]

VERBS: dict[str, tuple[str, str, str]] = {
    # verb: ("module:attribute" (a Typer app or a command function), section, summary)
    "run": ("flyte_cli.run:app", "Run", "Run a task from a Python file, with a live tree."),
    "rerun": ("flyte_cli.rerun:app", "Run", "Run a recorded run again (--recover reuses results)."),
    "deploy": ("flyte_cli.deploy:deploy", "Run", "Register a file's tasks with a version."),
    "tui": ("flyte_cli.tui:tui", "Run", "Open the live terminal dashboard."),
    "get": ("flyte_cli.get:app", "Inspect", "Show runs, actions, inputs/outputs, tasks, cache."),
    "logs": ("flyte_cli.logs:logs", "Inspect", "Print or follow what a run's tasks printed."),
    "abort": ("flyte_cli.abort:abort", "Manage", "Abort a running run."),
    "cache": ("flyte_cli.cache:app", "Manage", "Clear cache entries."),
    "delete": ("flyte_cli.delete:app", "Manage", "Delete recorded runs."),
    "gc": (
        "flyte_cli.gc:gc",
        "Manage",
        "Delete old runs and stale cache entries; shrink the store.",
    ),
    "db": ("flyte_cli.db:app", "Manage", "Store stats, integrity check, vacuum and read-only SQL."),
    "serve": ("flyte_cli.serve:serve", "Share", "Serve the run store to a team over HTTP."),
}

_invocation: dict[str, list[str]] = {"argv": []}
"""The arguments of the running invocation (the root callback sees them parsed away)."""

LOCAL_ONLY = frozenset({"gc", "db"})
"""Verbs that work on the store file itself (SQL, vacuum): not available through a server."""

_SCOPED_ENV = ("FLYTE_STORE", "FLYTE_ENDPOINT", "FLYTE_API_KEY")
"""Set by the global options for one invocation, and restored afterwards."""


def _build(verb: str) -> Command:
    """Import a verb's module and build its command."""
    import importlib

    from flyte_cli._command import ExamplesCommand

    target, _, summary = VERBS[verb]
    module_name, _, attribute = target.partition(":")
    obj = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(obj, typer.Typer):
        holder = typer.Typer(rich_markup_mode=None, add_completion=False)
        holder.command(
            verb,
            cls=ExamplesCommand,
            short_help=summary,
            context_settings={"help_option_names": ["-h", "--help"]},
        )(obj)
        obj = holder
    command = typer.main.get_command(obj)
    command.name = verb
    command.short_help = summary
    lighten(command)
    return command


class FlyteGroup(TyperGroup):
    """The root group: lazy verbs listed by section, and the error → exit code boundary."""

    def list_commands(self, ctx: Context) -> list[str]:
        return list(VERBS)

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name not in self.commands and cmd_name in VERBS:
            self.commands[cmd_name] = _build(cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        sections: dict[str, list[tuple[str, str]]] = {}
        for verb, (_, section, summary) in VERBS.items():
            sections.setdefault(section, []).append((verb, summary))
        for section, rows in sections.items():
            with formatter.section(section):
                formatter.write_dl(rows)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the CLI; translate every error into a message and an exit code."""
        state.reset()
        lighten(self)
        argv = sys.argv[1:] if args is None else list(args)
        _invocation["argv"] = argv
        if os.environ.get("_FLYTE_COMPLETE") == "complete_zsh":
            from flyte_cli.completions_gen import use_our_completion

            use_our_completion()
        wants_script = os.environ.get("_FLYTE_COMPLETE", "").startswith("source")
        if wants_script or any(
            a.startswith(("--install-completion", "--show-completion")) for a in argv
        ):
            from flyte_cli.completions_gen import use_our_scripts

            use_our_scripts()
        saved = {key: os.environ.get(key) for key in _SCOPED_ENV}  # the global options set them
        try:
            code = _guarded(
                lambda: super(FlyteGroup, self).main(
                    args=args,
                    prog_name=prog_name or "flyte",
                    complete_var=complete_var,
                    standalone_mode=False,
                    windows_expand_args=windows_expand_args,
                    **extra,
                )
            )
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
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
  flyte --endpoint http://team-box:8090 --api-key TOKEN get runs
""",
)


@app.callback()
def _root(
    ctx: typer.Context,
    store: Annotated[
        Optional[str],
        typer.Option(
            "--store",
            metavar="PATH",
            help="The run store: a runs.db path or 'memory' (default: $FLYTE_STORE or $FLYTE_HOME/runs.db).",
            show_default=False,
        ),
    ] = None,
    endpoint: Annotated[
        Optional[str],
        typer.Option(
            "--endpoint",
            metavar="URL",
            help="A flyte server (`flyte serve`) to run and read on, instead of the local "
            "store (default: $FLYTE_ENDPOINT).",
            show_default=False,
        ),
    ] = None,
    api_key: Annotated[
        Optional[str],
        typer.Option(
            "--api-key",
            metavar="TOKEN",
            help="The server's API token (default: $FLYTE_API_KEY).",
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
    state.verbose = verbose
    if endpoint is not None and store is not None:
        raise CliError("give either --store (a local store) or --endpoint (a server), not both")
    if endpoint is not None:
        os.environ["FLYTE_ENDPOINT"] = endpoint
    if api_key is not None:
        os.environ["FLYTE_API_KEY"] = api_key
    if endpoint is not None:
        state.target = f"--endpoint {shlex.quote(endpoint)} "
    if store is not None:
        state.target = f"--store {shlex.quote(store)} "
        os.environ.pop("FLYTE_ENDPOINT", None)  # an explicit local store beats the env var
        state.store = store_url(store)
        os.environ["FLYTE_STORE"] = state.store
    verb = ctx.invoked_subcommand
    wants_help = any(a in ("-h", "--help") for a in _invocation["argv"])
    if verb in LOCAL_ONLY and os.environ.get("FLYTE_ENDPOINT") and not wants_help:
        raise CliError(
            f"flyte {verb} works on a store file, not through a server: run it on the server's "
            f"machine (flyte --store PATH {verb} ...), or drop --endpoint / FLYTE_ENDPOINT"
        )


def run_cli(argv: Sequence[str] | None = None) -> None:
    """Run `flyte` with `argv` (default: `sys.argv[1:]`) and exit with its code."""
    command = typer.main.get_command(app)
    command.main(args=argv, prog_name="flyte")
