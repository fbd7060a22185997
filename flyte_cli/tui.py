"""`flyte tui [RUN]`: the terminal dashboard (the `tui` package, imported only here)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from flyte_cli._options import complete_run, get_store, require_run

__all__ = ["tui"]


def tui(
    run: Annotated[
        Optional[str],
        typer.Argument(
            metavar="RUN",
            help="Open this run (default: the list of runs).",
            autocompletion=complete_run,
            show_default=False,
        ),
    ] = None,
    latest: Annotated[
        bool, typer.Option("--latest", help="Follow the newest run, switching as new runs start.")
    ] = False,
) -> None:
    """Open the live dashboard: runs, action trees, logs, cache hits.

    It reads the same store as every other command, so it shows runs driven by any
    process (`flyte run` in another terminal, a watch loop, a script).

    Examples:

    \b
      flyte tui
      flyte tui RUN
      flyte tui --latest
    """
    from flyte_cli._execute import launch_tui, require_terminal

    require_terminal("flyte tui")
    store = get_store()
    if run is not None:
        require_run(store, run)
    launch_tui(store, run, follow_latest=latest)
