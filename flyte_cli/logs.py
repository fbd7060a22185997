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

from flyte_cli._options import ActionArg, JsonOpt, RunArg, get_store, require_actions, require_run
from flyte_cli._output import STREAM_PAGE, emit_json_array, to_data

if TYPE_CHECKING:
    from flyte._models import LogLine
    from flyte.store import RunStore

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

    Lines of a whole run (or of a task that ran several times) are prefixed with their
    task and action id; a retried action's lines are split by `── attempt N ──` markers.
    With --json the lines are a JSON array (one JSON object per line with --follow).

    Examples:

    \b
      flyte logs RUN
      flyte logs RUN say_hello
      flyte logs RUN --follow
      flyte logs RUN --tail 20 --attempt 2
    """
    store = get_store()
    require_run(store, run)
    actions = store.list_actions(run)
    names = {a.id: a.name.rsplit(".", 1)[-1] for a in actions}
    chosen = require_actions(actions, run, action) if action is not None else []
    # One action: its lines bare. A task name may name several (it ran 3 times): each line
    # then says which, like the lines of a whole run.
    action_id = chosen[0].id if len(chosen) == 1 else None
    wanted = {a.id for a in chosen} if len(chosen) > 1 else None

    def fetch(after: int, limit: int | None = None) -> list[LogLine]:
        lines = store.logs(run, action_id=action_id, after=after, attempt=attempt, limit=limit)
        if wanted is not None:
            lines = [line for line in lines if line.action in wanted]
        return lines

    def pages(after: int) -> Iterator[list[LogLine]]:
        for page in store.iter_logs(
            run, action_id=action_id, after=after, attempt=attempt, page=STREAM_PAGE
        ):
            yield page if wanted is None else [line for line in page if line.action in wanted]

    # Without --tail the lines are streamed page by page: `flyte logs` of a run that
    # printed 50 MB stays in bounded memory.
    stream: Iterable[list[LogLine]]
    if tail == 0:
        stream, last = [], _last_seq(store, run)
    elif tail is not None and wanted is None:
        lines = fetch(0, limit=tail)  # the store reads only the last `tail` lines
        stream, last = [lines], (lines[-1].seq if lines else 0)
    elif tail is not None:
        lines = fetch(0)
        stream, last = [lines[-tail:]], (lines[-1].seq if lines else 0)
    else:
        stream, last = pages(0), 0
    if json_ and not follow:
        emit_json_array([to_data(line) for line in page] for page in stream)
        return
    from flyte._store.logs import printable

    # Retries print again: a marker line says where each new attempt's lines start.
    seen_attempt: dict[str | None, int] = {}
    retried = {a.id for a in actions if a.attempts > 1 and str(a.kind) == "task"}

    def show(batch: list[LogLine]) -> None:
        out: list[str] = []  # one write per page: a write per line was a fifth of the time
        for line in batch:
            if json_:
                out.append(json.dumps(to_data(line)))
                continue
            prefix = ""
            if action_id is None and line.action is not None:
                prefix = f"[{names.get(line.action, '?')} {line.action}] "
            # `attempt > 1`: a retry that began after this command started (--follow).
            retry = line.action in retried or line.attempt > 1
            if retry and seen_attempt.get(line.action) != line.attempt:
                seen_attempt[line.action] = line.attempt
                out.append(f"{prefix}── attempt {line.attempt} ──")
            # Task output is untrusted: escape sequences are shown, never obeyed (--json
            # keeps the exact text).
            out.append(f"{prefix}{printable(line.line, limit=None)}")
        if out:
            out.append("")
            sys.stdout.write("\n".join(out))
        sys.stdout.flush()

    shown = False
    for page in stream:
        show(page)
        if page:
            shown, last = True, max(last, page[-1].seq)
    if not follow:
        if not shown and not json_:
            what = f"action {action}" if action is not None else f"run {run}"
            record = store.get_run(run)
            still = record is not None and not record.phase.is_terminal
            sys.stderr.write(
                f"{what} printed nothing{' yet (--follow waits for output)' if still else ''}.\n"
            )
        return
    follow_logs = getattr(store, "follow_logs", None)
    if follow_logs is not None:  # a server: it long-polls, answering as soon as lines come
        for batch in follow_logs(run, action_id=action_id, after=last, attempt=attempt):
            show([line for line in batch if wanted is None or line.action in wanted])
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


def _last_seq(store: RunStore, run: str) -> int:
    """The seq of the run's newest log line (0 when none): `--tail 0` follows from there."""
    newest = store.logs(run, limit=1)
    return newest[-1].seq if newest else 0
