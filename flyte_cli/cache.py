"""`flyte cache clear [--task T]`: delete cache entries (`flyte get cache` lists them)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from flyte_cli._command import ExamplesCommand, sub_app
from flyte_cli._errors import CliError
from flyte_cli._options import YesOpt, confirm, get_store
from flyte_cli._output import console, emit_json

__all__ = ["app", "clear"]

app = sub_app(
    help="Manage the cache (`flyte get cache` lists and explains entries).",
    epilog="Examples:\n\n\b\n  flyte cache clear\n  flyte cache clear --task pipeline.transform --yes\n",
)


@app.command(cls=ExamplesCommand)
def clear(
    task: Annotated[
        Optional[str],
        typer.Option(
            metavar="TASK",
            help="Only this task's entries (full or short name).",
            show_default=False,
        ),
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print the count as JSON.")] = False,
    yes: YesOpt = False,
) -> None:
    """Delete cache entries: all of them, or one task's; the next runs execute again.

    Asks first (--yes skips the question, for scripts).

    Examples:

    \b
      flyte cache clear
      flyte cache clear --task pipeline.transform --yes
    """
    import flyte
    from flyte._present import plural
    from flyte.store import did_you_mean

    store = get_store()
    entries = flyte.cache.entries(task, store=store)
    if task is not None and not entries:
        known = {e.task for e in flyte.cache.entries(store=store)}
        known |= {r.task for r in store.list_runs(limit=500)}
        if not any(task in (name, name.rsplit(".", 1)[-1]) for name in known):
            shorts = {name.rsplit(".", 1)[-1] for name in known}
            raise CliError(
                f"no task {task!r} in the cache or the runs{did_you_mean(task, known | shorts)}"
                " (`flyte get cache` lists entries)"
            )
    what = f" of {task}" if task else ""
    if entries:
        confirm(f"Delete {plural(len(entries), 'cache entry', 'cache entries')}{what}?", yes=yes)
    count = flyte.cache.clear(task, store=store) if entries else 0
    if json_:
        emit_json({"task": task, "cleared": count})
        return
    console().print(f"Cleared {plural(count, 'cache entry', 'cache entries')}{what}.")
