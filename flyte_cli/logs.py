"""`flyte logs RUN [ACTION] [--follow] [--tail N] [--attempt K]`: what the tasks printed.

`--follow` polls the store (`store.logs(run, after=last_seq)`) until the run ends, so it
follows a run driven by any process: `flyte run` in another terminal, a watch loop, a
script calling `flyte.run`.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from flyte_cli._options import ActionArg, JsonOpt, RunArg, get_store, require_action, require_run
from flyte_cli._output import emit_json_array, to_data

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
        if line.action not in names:  # task names of the run's actions, read page by page
            for page in store.iter_actions(run):
                names.update((a.id, a.name.rsplit(".", 1)[-1]) for a in page)
        return f"[{names.get(line.action, '?')} {line.action}] "

    def pages(after: int) -> Iterator[list[LogLine]]:
        return store.iter_logs(run, action_id=action_id, after=after, attempt=attempt)

    # Streamed page by page: `flyte logs` of a 50 MB run stays in bounded memory.
    last = 0
    if tail is not None:
        lines = store.logs(run, action_id=action_id, attempt=attempt, limit=tail) if tail else []
        stream: Iterable[list[LogLine]] = [lines]
        if not lines:  # still follow from the end, not from the start
            newest = store.logs(run, action_id=action_id, attempt=attempt, limit=1)
            last = newest[-1].seq if newest else 0
    else:
        stream = pages(0)
    if json_ and not follow:
        emit_json_array([to_data(line) for line in page] for page in stream)
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

    for page in stream:
        show(page)
        if page:
            last = max(last, page[-1].seq)
    if not follow:
        return

    def fetch(after: int) -> list[LogLine]:
        return [line for page in pages(after) for line in page]

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
