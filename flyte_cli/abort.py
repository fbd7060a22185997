"""`flyte abort RUN`: stop a run, whichever process drives it; it ends ABORTED."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from flyte_cli._errors import CliError
from flyte_cli._options import RunArg, get_store, require_run
from flyte_cli._output import console

__all__ = ["abort"]


def abort(
    run: RunArg,
    wait: Annotated[
        float,
        typer.Option(
            metavar="SECONDS", help="How long to wait for the run to stop (0: do not wait)."
        ),
    ] = 10.0,
) -> None:
    """Abort a running run; the process driving it stops it within about a second.

    A run that already ended is left alone (exit code 2).

    Examples:

    \b
      flyte abort RUN
      flyte abort RUN --wait 0
    """
    store = get_store()
    record = require_run(store, run)
    if record.phase.is_terminal:
        raise CliError(f"run {run} already ended ({record.phase}); nothing to abort")
    if not store.request_abort(run):
        record = require_run(store, run)
        raise CliError(f"run {run} already ended ({record.phase}); nothing to abort")
    out = console()
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        record = require_run(store, run)
        if record.phase.is_terminal:
            out.print(f"Run [cyan]{run}[/] {record.phase}.")
            if str(record.phase) == "ABORTED":
                out.print(
                    f"  flyte rerun {run} --recover  [dim]# run again, reusing what finished[/]"
                )
            return
        time.sleep(0.1)
    if wait:
        out.print(f"Asked run [cyan]{run}[/] to abort; it is still {record.phase} after {wait:g}s.")
    else:
        out.print(f"Asked run [cyan]{run}[/] to abort.")
