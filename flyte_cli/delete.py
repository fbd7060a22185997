"""`flyte delete run RUN...`: remove runs (their actions and logs) from the store."""

from __future__ import annotations

from typing import Annotated

import typer

from flyte_cli._command import ExamplesCommand, sub_app
from flyte_cli._errors import CliError
from flyte_cli._options import YesOpt, complete_run, confirm, get_store, require_run
from flyte_cli._output import console

__all__ = ["app", "run"]

app = sub_app(
    help="Delete recorded runs.",
    epilog="Examples:\n\n\b\n  flyte delete run RUN\n  flyte delete run RUN1 RUN2\n",
)


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
    yes: YesOpt = False,
) -> None:
    """Delete runs with their actions, attempts and logs (cache entries stay).

    A run still in progress cannot be deleted: abort it first. Asks first (--yes skips
    the question, for scripts).

    Examples:

    \b
      flyte delete run RUN
      flyte delete run RUN1 RUN2 --yes
    """
    from flyte._present import plural

    store = get_store()
    records = [require_run(store, name) for name in runs]
    for record in records:
        if not record.phase.is_terminal:
            raise CliError(
                f"run {record.name} is still {record.phase}; abort it first (flyte abort {record.name})"
            )
    names = ", ".join(r.name for r in records)
    confirm(f"Delete {plural(len(records), 'run')} ({names}) with their actions and logs?", yes=yes)
    out = console()
    for record in records:
        store.delete_run(record.name)
        out.print(f"Deleted run [cyan]{record.name}[/].")
