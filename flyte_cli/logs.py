"""`flyte logs RUN [ACTION] [--follow] [--tail N] [--attempt K]`: what the tasks printed.

`--follow` polls the store (`store.logs(run, after=last_seq)`) until the run ends, so it
follows a run driven by any process: `flyte run` in another terminal, a watch loop, a
script calling `flyte.run`.
"""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from flyte_cli._options import ActionArg, JsonOpt, RunArg, get_store, require_action, require_run
from flyte_cli._output import to_data

if TYPE_CHECKING:
    from flyte._models import LogLine

__all__ = ["logs"]

_FOLLOW_POLL = 0.2


def logs(
    run: RunArg,
    action: ActionArg = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines until the run ends.")
    ] = False,
    tail: Annotated[
        Optional[int],
        typer.Option(
            "--tail",
            "-n",
            min=0,
            metavar="N",
            help="Only the last N lines (then follow).",
            show_default=False,
        ),
    ] = None,
    attempt: Annotated[
        Optional[int],
        typer.Option(
            min=1,
            metavar="K",
            help="Only lines of this attempt (retries make several).",
            show_default=False,
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Print what a run's tasks printed and logged (stdout, stderr, logging).

    Lines of a whole run are prefixed with their task and action id. With --json the
    lines are a JSON array (one JSON object per line with --follow).

    Examples:

    \b
      flyte logs RUN
      flyte logs RUN say_hello
      flyte logs RUN --follow
      flyte logs RUN --tail 20 --attempt 2
    """
    store = get_store()
    require_run(store, run)
    names: dict[str, str] = {}
    action_id = None
    if action is not None:
        action_id = require_action(store.list_actions(run), run, action).id

    def label(line: LogLine) -> str:
        if action_id is not None or line.action is None:
            return ""
        if line.action not in names:
            for found in store.list_actions(run):
                names[found.id] = found.name.rsplit(".", 1)[-1]
        return f"[{names.get(line.action, '?')} {line.action}] "

    def fetch(after: int) -> list[LogLine]:
        return store.logs(run, action_id=action_id, after=after, attempt=attempt)

    lines = fetch(0)
    last = lines[-1].seq if lines else 0
    if tail is not None:
        lines = lines[-tail:] if tail else []
    if json_ and not follow:
        sys.stdout.write(json.dumps([to_data(line) for line in lines], indent=2) + "\n")
        return

    from flyte._store.logs import printable

    def show(batch: list[LogLine]) -> None:
        for line in batch:
            if json_:
                sys.stdout.write(json.dumps(to_data(line)) + "\n")
            else:
                # Task output is untrusted: escape sequences are shown, never obeyed
                # (--json keeps the exact text).
                sys.stdout.write(f"{label(line)}{printable(line.line, limit=None)}\n")
        sys.stdout.flush()

    show(lines)
    if not follow:
        return
    while True:
        record = store.get_run(run)
        ended = record is None or record.phase.is_terminal
        batch = fetch(last)
        show(batch)
        if batch:
            last = batch[-1].seq
        if ended:
            return
        time.sleep(_FOLLOW_POLL)
