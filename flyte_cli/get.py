"""`flyte get runs | run | actions | io | report | tasks | cache`: read the run store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from flyte_cli._command import ExamplesCommand, sub_app
from flyte_cli._errors import CliError
from flyte_cli._options import ActionArg, JsonOpt, RunArg, get_store, require_action, require_run
from flyte_cli._output import (
    STREAM_PAGE,
    Column,
    console,
    emit,
    emit_json,
    emit_json_array,
    fmt_ago,
    fmt_duration,
    fmt_time,
    loads_json,
    parse_since,
    phase_text,
    to_data,
)

__all__ = ["actions", "app", "cache", "io", "report", "run", "runs", "tasks"]

app = sub_app(
    help="Show runs, actions, inputs and outputs, deployed tasks and cache entries.",
    epilog="""Examples:

\b
  flyte get runs --phase failed --since 1d
  flyte get run RUN
  flyte get actions RUN
  flyte get io RUN
  flyte get report RUN --open
  flyte get tasks --json
  flyte get cache --task pipeline.transform
""",
)

_PHASES = ["queued", "running", "succeeded", "failed", "timed_out", "aborted"]


def _complete_phase(incomplete: str) -> list[str]:
    return [p for p in _PHASES if p.startswith(incomplete.lower())]


def _short(value: Any, width: int = 48) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def _elapsed(record: Any) -> str:
    """The duration of an ended run, or the time so far of a running one (`3.2s…`)."""
    if record.duration is not None or record.started_at is None:
        return fmt_duration(record.duration)
    import time

    return fmt_duration(time.time() - record.started_at) + "…"


@app.command(cls=ExamplesCommand)
def runs(
    phase: Annotated[
        Optional[str],
        typer.Option(
            metavar="PHASE",
            help="Only runs in this phase.",
            autocompletion=_complete_phase,
            show_default=False,
        ),
    ] = None,
    task: Annotated[
        Optional[str],
        typer.Option(
            metavar="TASK", help="Only runs of this task (full or short name).", show_default=False
        ),
    ] = None,
    since: Annotated[
        Optional[str],
        typer.Option(
            metavar="WHEN",
            help="Only runs started since: 30m, 2h, 1d or a date.",
            show_default=False,
        ),
    ] = None,
    search: Annotated[
        Optional[str],
        typer.Option(
            metavar="TEXT",
            help="Only runs whose name or task contains this.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option(metavar="N", help="At most this many runs, newest first.")
    ] = 20,
    json_: JsonOpt = False,
) -> None:
    """List runs, newest first.

    Examples:

    \b
      flyte get runs
      flyte get runs --phase failed --since 1d
      flyte get runs --task hello.main --limit 5 --json
    """
    if phase is not None and phase.lower() not in _PHASES:
        raise CliError(f"unknown phase {phase!r}; choose one of: {', '.join(_PHASES)}")
    try:
        since_ts = parse_since(since) if since else None
    except ValueError as exc:
        raise CliError(f"--since: {exc}") from None
    store = get_store()
    records = store.list_runs(
        phase=phase.upper() if phase else None,
        task=task,
        limit=limit,
        since=since_ts,
        search=search,
    )
    rows = [to_data(r) for r in records]
    for row, record in zip(rows, records, strict=True):
        if not json_:
            row["elapsed"] = _elapsed(record)  # for the table only
    emit(
        rows,
        [
            Column(key="name", header="RUN", style="cyan"),
            Column(key="task", header="TASK"),
            Column(key="phase", header="PHASE", fmt=phase_text),
            Column(key="created_at", header="STARTED", fmt=fmt_ago),
            Column(key="elapsed", header="DURATION", justify="right"),
            Column(key="action_count", header="ACTIONS", justify="right"),
            Column(key="cache_hits", header="CACHE HITS", justify="right"),
        ],
        as_json=json_,
        empty="No runs yet. Start one: flyte run examples/hello.py main",
    )
    if limit and len(records) >= limit:
        from flyte.store import count_runs

        total = count_runs(
            store, phase=phase.upper() if phase else None, task=task, since=since_ts, search=search
        )
        if total > len(records):
            hidden = total - len(records)
            console(stderr=True).print(
                f"[dim]… {hidden} more {'run' if hidden == 1 else 'runs'}; "
                f"use --limit {total} to see all[/]"
            )


@app.command(cls=ExamplesCommand)
def run(run: RunArg, json_: JsonOpt = False) -> None:
    """Show one run: phase, timing, inputs, outputs, error and settings.

    Examples:

    \b
      flyte get run RUN
      flyte get run RUN --json
    """
    store = get_store()
    record = require_run(store, run)
    data = to_data(record)
    if json_:
        emit_json(data)
        return
    from rich.table import Table

    out = console()
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("run", f"[cyan]{record.name}[/]")
    table.add_row("task", record.task)
    table.add_row("phase", phase_text(record.phase))
    table.add_row("started", fmt_time(record.started_at or record.created_at))
    table.add_row("duration", _elapsed(record))
    from flyte._present import plural

    table.add_row("actions", f"{record.action_count} ({plural(record.cache_hits, 'cache hit')})")
    if record.recovered_from:
        table.add_row("recovered from", record.recovered_from)
    if record.interrupted:
        table.add_row("interrupted", "yes: the process driving it died")
    table.add_row("inputs", _short(data["inputs"], 100))
    if record.outputs_json is not None:
        table.add_row("outputs", _short(data["outputs"], 100))
    if record.error_type:
        table.add_row("error", f"[red]{record.error_type}: {record.error_message}[/]")
    for key, value in sorted(record.labels.items()):
        table.add_row(f"label {key}", value)
    out.print(table)
    if record.traceback and str(record.phase) != "ABORTED":
        out.print()
        out.print(record.traceback.rstrip(), markup=False, style="red", highlight=False)


@app.command(cls=ExamplesCommand)
def actions(
    run: RunArg,
    all_: Annotated[
        bool, typer.Option("--all", help="Draw every action, not 20 per node.")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Show the action tree of a run (tasks and trace checkpoints).

    Examples:

    \b
      flyte get actions RUN
      flyte get actions RUN --all
      flyte get actions RUN --json
    """
    from flyte_cli._tree import placements, run_tree

    store = get_store()
    record = require_run(store, run)
    from flyte_cli._execute import retried_attempts

    if json_:
        # Streamed page by page: a 100,000-action run stays in bounded memory. Every
        # attempt of a retried action comes with it, with the errors of the failed ones.
        history: dict[str, list[Any]] | None = None

        def pages() -> Iterator[list[dict[str, Any]]]:
            nonlocal history
            for page in store.iter_actions(run, page=STREAM_PAGE):
                if history is None and any(a.attempts > 1 for a in page):
                    history = retried_attempts(store, run, page)
                rows = []
                for action in page:
                    row = to_data(action)
                    row["attempt_history"] = [
                        to_data(a) for a in (history or {}).get(action.id, ())
                    ]
                    rows.append(row)
                yield rows

        emit_json_array(pages())
        return
    found = store.list_actions(run)
    attempts = retried_attempts(store, run, found)
    console().print(
        run_tree(
            record,
            found,
            max_children=None if all_ else 20,
            attempts=attempts,
            with_ids=True,
            where=placements(store, record.name),
        )
    )


@app.command(cls=ExamplesCommand)
def io(run: RunArg, action: ActionArg = None, json_: JsonOpt = False) -> None:
    """Show the inputs and outputs of a run, or of one of its actions.

    Examples:

    \b
      flyte get io RUN
      flyte get io RUN say_hello
      flyte get io RUN 3f2a9c0d12ab --json
    """
    store = get_store()
    record = require_run(store, run)
    target: Any = record
    if action is not None:
        target = require_action(store.list_actions(run), run, action)
    is_action = action is not None
    data = {
        "run": run,
        "action": target.id if is_action else None,
        "task": target.name if is_action else record.task,
        "phase": str(target.phase),
        "inputs": loads_json(target.inputs_json),
        "outputs": loads_json(target.outputs_json),
        "error": f"{target.error_type}: {target.error_message}" if target.error_type else None,
    }
    if json_:
        emit_json(data)
        return
    out = console()
    where = f"action {target.id} of run {run}" if is_action else f"run {run}"
    out.print(f"[bold]{data['task']}[/]  [dim]{where}[/]  ", phase_text(target.phase))
    out.print("[bold]inputs[/]")
    out.print(json.dumps(data["inputs"], indent=2, default=str), markup=False, highlight=False)
    if data["error"]:
        out.print("[bold]error[/]")
        out.print(data["error"], markup=False, style="red")
    elif target.outputs_json is not None:
        out.print("[bold]outputs[/]")
        out.print(json.dumps(data["outputs"], indent=2, default=str), markup=False, highlight=False)


@app.command(cls=ExamplesCommand)
def report(
    run: RunArg,
    action: ActionArg = None,
    output: Annotated[
        Optional[Path],
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Where to write the HTML (default: RUN[-ACTION]-report.html here).",
            show_default=False,
        ),
    ] = None,
    open_: Annotated[
        bool, typer.Option("--open", help="Open the written file in a web browser.")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Write the HTML report of an action (`@env.task(report=True)`) to one file.

    Without ACTION, the run's reports go in one page, a tab per action and tab.

    Examples:

    \b
      flyte get report RUN
      flyte get report RUN train --open
      flyte get report RUN a0 -o report.html --json
    """
    from flyte.report import render

    store = get_store()
    record = require_run(store, run)
    actions = store.list_actions(run)
    with_report = store.report_actions(run)
    if action is not None:
        target = require_action(actions, run, action)
        found = store.get_report(run, target.id)
        if found is None:
            others = ", ".join(with_report) or "none"
            raise CliError(
                f"action {target.id} ({target.name}) of run {run} has no report "
                f"(actions with one: {others}); a task logs one with @env.task(report=True)"
            )
        tabs = found.tabs
        title = f"{target.name} · {run}"
        ids = [target.id]
    else:
        if not with_report:
            raise CliError(
                f"run {run} has no reports; a task logs one with @env.task(report=True) "
                "and flyte.report.log(...)"
            )
        names = {a.id: a.name.rsplit(".", 1)[-1] for a in actions}
        tabs = {}
        for aid in with_report:
            found = store.get_report(run, aid)
            if found is None:
                continue
            for tab, fragment in found.tabs.items():
                key = tab if len(with_report) == 1 else f"{names.get(aid, aid)} ({aid[:6]}): {tab}"
                tabs[key] = fragment
        title = f"{record.task} · {run}"
        ids = list(with_report)
    suffix = f"-{ids[0]}" if action is not None else ""
    path = output or Path(f"{run}{suffix}-report.html")
    try:
        path.write_text(render(tabs, title=title), encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from None
    if open_:
        import webbrowser

        webbrowser.open(path.resolve().as_uri())
    if json_:
        emit_json({"run": run, "actions": ids, "tabs": list(tabs), "path": str(path)})
        return
    console().print(f"wrote {path} ({len(tabs)} tab{'s' if len(tabs) != 1 else ''})", markup=False)


@app.command(cls=ExamplesCommand)
def tasks(json_: JsonOpt = False) -> None:
    """List deployed tasks (registered with `flyte deploy`), newest first.

    Examples:

    \b
      flyte get tasks
      flyte get tasks --json
      flyte run --deployed hello.main --name Ada
    """
    store = get_store()
    rows = []
    for t in store.list_deployed():
        data = to_data(t)
        inputs = t.interface.get("inputs", {})
        data["inputs_text"] = ", ".join(f"{k}: {v.get('type')}" for k, v in inputs.items()) or "-"
        data["output_text"] = str(t.interface.get("outputs", "-"))
        rows.append(data)
    emit(
        rows,
        [
            Column(key="name", header="TASK", style="cyan"),
            Column(key="version", header="VERSION"),
            Column(key="env", header="ENV"),
            Column(key="inputs_text", header="INPUTS", fmt=_short),
            Column(key="output_text", header="OUTPUT"),
            Column(key="created_at", header="DEPLOYED", fmt=fmt_ago),
        ],
        as_json=json_,
        empty="No deployed tasks. Deploy some: flyte deploy examples/hello.py",
    )


@app.command(cls=ExamplesCommand)
def cache(
    task: Annotated[
        Optional[str],
        typer.Option(
            metavar="TASK",
            help="Only entries of this task (full or short name).",
            show_default=False,
        ),
    ] = None,
    explain: Annotated[
        Optional[str],
        typer.Option(
            metavar="ACTION",
            help="Explain why ACTION (an id or task name) of --run hit or missed the cache.",
            show_default=False,
        ),
    ] = None,
    run: Annotated[
        Optional[str],
        typer.Option(
            metavar="RUN",
            help="The run of --explain (default: the newest run).",
            show_default=False,
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """List cache entries, or explain a cache hit or miss.

    Examples:

    \b
      flyte get cache
      flyte get cache --task pipeline.transform --json
      flyte get cache --explain transform --run RUN
    """
    import flyte

    store = get_store()
    if explain is not None:
        if run is None:
            newest = store.list_runs(limit=1)
            if not newest:
                raise CliError("no runs yet; --explain needs a run")
            run = newest[0].name
        require_run(store, run)
        found = require_action(store.list_actions(run), run, explain)
        explanation = flyte.cache.explain(run, found.id, store=store)
        if json_:
            emit_json({"run": run, "action": found.id, **to_data(explanation)})
            return
        out = console()
        status = "[cyan]hit[/]" if explanation.hit else "[yellow]miss[/]"
        out.print(f"[bold]{found.name}[/] [dim]{found.id}[/] in run {run}: cache {status}")
        if explanation.hit:
            out.print(f"  key {explanation.key}", markup=False)
        elif explanation.reasons:
            for reason in explanation.reasons:
                out.print(f"  • {reason}", markup=False)
        elif explanation.compared_with is None:
            out.print("  no earlier cache entry for this task: this was its first run")
        return
    rows = [to_data(e) for e in flyte.cache.entries(task, store=store)]
    emit(
        rows,
        [
            Column(key="task", header="TASK", style="cyan"),
            Column(key="key", header="KEY", fmt=lambda k: str(k)[:16]),
            Column(key="created_at", header="CREATED", fmt=fmt_ago),
            Column(key="run", header="RUN"),
            Column(key="action", header="ACTION"),
            Column(key="outputs", header="OUTPUTS", fmt=_short),
        ],
        as_json=json_,
        empty="No cache entries. Tasks with cache='auto' write them.",
    )
