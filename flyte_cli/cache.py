"""`flyte cache clear [--task T]`: delete cache entries (`flyte get cache` lists them)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from flyte_cli._command import ExamplesCommand
from flyte_cli._options import get_store
from flyte_cli._output import console, emit_json

__all__ = ["app", "clear"]

app = typer.Typer(
    rich_markup_mode=None,
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Examples:\n\n\b\n  flyte cache clear\n  flyte cache clear --task pipeline.transform\n",
)


@app.callback()
def _group() -> None:
    """Manage the cache (`flyte get cache` lists and explains entries)."""


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
) -> None:
    """Delete cache entries: all of them, or one task's; the next runs execute again.

    Examples:

    \b
      flyte cache clear
      flyte cache clear --task pipeline.transform
    """
    import flyte

    count = flyte.cache.clear(task, store=get_store())
    if json_:
        emit_json({"task": task, "cleared": count})
        return
    what = f" of {task}" if task else ""
    console().print(f"Cleared {count} cache {'entry' if count == 1 else 'entries'}{what}.")
