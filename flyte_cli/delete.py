"""`flyte delete run RUN...`: remove runs (their actions and logs) from the store."""

from __future__ import annotations

from typing import Annotated

import typer

from flyte_cli._command import ExamplesCommand
from flyte_cli._errors import CliError
from flyte_cli._options import complete_run, get_store, require_run
from flyte_cli._output import console

__all__ = ["app", "run"]

app = typer.Typer(
    rich_markup_mode=None,
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Examples:\n\n\b\n  flyte delete run RUN\n  flyte delete run RUN1 RUN2\n",
)


@app.callback()
def _group() -> None:
    """Delete recorded runs."""


@app.command(cls=ExamplesCommand)
def run(
    runs: Annotated[
        list[str],
        typer.Argument(
            metavar="RUN...",
            help="The runs to delete.",
            autocompletion=complete_run,
            show_default=False,
        ),
    ],
) -> None:
    """Delete runs with their actions, attempts and logs (cache entries stay).

    A run still in progress cannot be deleted: abort it first.

    Examples:

    \b
      flyte delete run RUN
      flyte delete run RUN1 RUN2
    """
    store = get_store()
    records = [require_run(store, name) for name in runs]
    for record in records:
        if not record.phase.is_terminal:
            raise CliError(
                f"run {record.name} is still {record.phase}; abort it first (flyte abort {record.name})"
            )
    out = console()
    for record in records:
        store.delete_run(record.name)
        out.print(f"Deleted run [cyan]{record.name}[/].")
