"""Execute a run for `flyte run` / `flyte rerun`: start, show it live, report the result.

The run starts on the engine's background loop (`with_runcontext(...).start`) with echo
off, and this thread polls the store like any other reader (`flyte tui`, `flyte logs`
in another terminal) to draw the tree. On a terminal the tree is live (rich `Live`,
redrawn every ~0.15 s); anywhere else (pipes, CI, CliRunner) nothing is drawn until the
end, when one static tree is printed. Exit codes: 0 succeeded, 1 the run did not
succeed, 130 the user pressed Ctrl-C (the run is aborted).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import typer

from flyte_cli._errors import CliError
from flyte_cli._output import console, emit_json, loads_json
from flyte_cli._tree import placements, run_tree

if TYPE_CHECKING:
    from rich.console import Console

    from flyte import Run, TaskTemplate
    from flyte._models import ActionRecord, AttemptRecord, RunRecord
    from flyte.store import RunStore
    from flyte_cli._command import RunSettings

__all__ = [
    "execute",
    "has_terminal",
    "hint_lines",
    "launch_tui",
    "report",
    "require_terminal",
    "retried_attempts",
    "run_summary",
    "summary_line",
    "watch_child",
]


_POLL = 0.15
_POLL_BIG = 0.6  # runs with thousands of actions: redraw less often, leave the CPU to them
_LOG_LINES = 10


def has_terminal() -> bool:
    """Whether stdin and stdout are both a terminal (a full-screen app needs both)."""
    import sys

    return sys.stdin.isatty() and sys.stdout.isatty()


def require_terminal(what: str) -> None:
    """Refuse to start the dashboard without a terminal (it would wait forever on a pipe).

    Raises:
        CliError: stdin or stdout is not a terminal (exit code 2).
    """
    if not has_terminal():
        raise CliError(
            f"{what} needs a terminal (stdin and stdout are not both one); "
            "run it in a terminal, or use `flyte get runs` / `flyte get actions RUN` in scripts"
        )


def launch_tui(store: RunStore, run_name: str | None, *, follow_latest: bool = False) -> None:
    """Open the dashboard (`flyte_tui.launch`, another package); blocks until the user quits.

    Raises:
        CliError: the dashboard is not installed or not available yet, or there is no
            terminal.
    """
    require_terminal("the dashboard")
    try:
        from flyte_tui import launch
    except ImportError as exc:
        raise CliError(f"the terminal dashboard is not available: {exc}") from exc
    launch(store, run_name, follow_latest=follow_latest)


def execute(
    task: TaskTemplate[Any, Any], inputs: dict[str, Any], settings: RunSettings, *, store: RunStore
) -> None:
    """Run `task` with `inputs`, show it, print the result; raise `typer.Exit` on failure.

    Raises:
        typer.Exit: code 1 when the run did not succeed, 130 after Ctrl-C.
        flyte.errors.UserError: the run could not start (name taken, unknown --recover run).
    """
    import flyte

    if settings.tui:
        require_terminal("--tui")  # before the run starts, not after
    context = flyte.with_runcontext(
        name=settings.name,
        disable_run_cache=settings.no_cache,
        overwrite_cache=settings.overwrite_cache,
        recover_from=settings.recover,
        echo=False,
        raise_on_failure=False,
        store=store,
        executor=settings.executor,
    )
    with _ctrl_c_held() as pressed:
        run = context.start(task, **inputs)
        out = console()
    live = out.is_terminal and not (settings.json or settings.quiet)
    interrupted = False
    try:
        if pressed:
            raise KeyboardInterrupt
        if settings.tui:
            launch_tui(store, run.name)
        if live:
            _follow_live(run, store, out)
        else:
            run.wait()
    except KeyboardInterrupt:
        _abort(run)
        interrupted = True
    record = store.get_run(run.name)
    if record is None:  # pragma: no cover - the run was deleted while it ran
        raise CliError(f"run {run.name} disappeared from the store")
    actions = store.list_actions(run.name)
    code = report(record, actions, settings, store=store)
    from flyte._store.retention import schedule_auto_gc

    schedule_auto_gc(store.path)  # the config's retention policy, once a day, in the background
    if interrupted:
        raise typer.Exit(130)
    if code:
        raise typer.Exit(code)


@contextlib.contextmanager
def _ctrl_c_held() -> Iterator[list[int]]:
    """Hold a Ctrl-C that comes while the run starts; the caller aborts the run for it.

    The engine records the run RUNNING before `start` returns: a Ctrl-C landing before the
    wait that handles it ended the process with the run never recorded ABORTED (readers
    later saw it interrupted). Only the main thread can set a signal handler.
    """
    pressed: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield pressed
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler if previous is None else previous)


def _abort(run: Run) -> None:
    """Ctrl-C: abort the run and wait (up to 10 s) until it has stopped."""
    if not watch_child():  # in watch mode a save stopped it: the loop's line says so
        console(stderr=True).print(f"[yellow]Interrupted: aborting run {run.name}…[/]")
    try:
        run.abort()
        run.wait(timeout=10)
    except KeyboardInterrupt:
        pass


def _follow_live(run: Run, store: RunStore, out: Console) -> None:
    from rich.console import Group
    from rich.live import Live
    from rich.text import Text

    from flyte._present import plural

    latest: dict[str, str] = {}
    seen = 0

    def frame() -> tuple[Any, int]:
        nonlocal seen
        record = store.get_run(run.name)
        actions = store.list_actions(run.name)
        for line in store.logs(run.name, after=seen):
            seen = line.seq
            if line.action is not None:
                latest[line.action] = line.line
        tasks = [a for a in actions if str(a.kind) == "task"]  # as the summary counts them
        running = sum(1 for a in tasks if str(a.phase) == "RUNNING")
        status = Text(
            f"{plural(len(tasks), 'action')} · {running} running · Ctrl-C aborts the run",
            style="dim",
        )
        tree = run_tree(record, actions, max_children=12, latest=latest)
        return Group(tree, status), len(actions)

    # The tree disappears when the run ends (transient) and is printed once in full after,
    # so a tree taller than the terminal never leaves a cut-off copy behind.
    view, count = frame()
    with Live(
        view,
        console=out,
        auto_refresh=False,
        transient=True,
        redirect_stdout=False,  # the engine swaps sys.stdout itself while runs execute
        redirect_stderr=False,
    ) as live:
        while not run.done():
            run.wait(timeout=_POLL_BIG if count > 2000 else _POLL)
            view, count = frame()
            live.update(view, refresh=True)
    run.wait()


def _failed_logs(
    store: RunStore, record: RunRecord, actions: list[ActionRecord]
) -> dict[str, list[str]]:
    failed = [a for a in actions if str(a.phase) in ("FAILED", "TIMED_OUT")][:5]
    logs: dict[str, list[str]] = {}
    for action in failed:
        lines = store.logs(record.name, action_id=action.id)
        if lines:
            logs[action.id] = [line.line for line in lines[-_LOG_LINES:]]
    return logs


def run_summary(record: RunRecord, actions: list[ActionRecord]) -> dict[str, Any]:
    """The machine-readable result of a run (what `--json` prints).

    Counts use `flyte._present.ActionCounts`: `actions` are task actions, `executed` the
    ones that ran their body, `recovered` tasks reused from `recovered_from`, `replayed`
    trace checkpoints whose recorded result was returned.
    """
    from flyte._present import ActionCounts

    counts = ActionCounts.of(actions)
    error = None
    if record.error_type:
        error = {
            "type": record.error_type,
            "message": record.error_message,
            "traceback": record.traceback,
        }
    return {
        "run": record.name,
        "task": record.task,
        "phase": str(record.phase),
        "outputs": loads_json(record.outputs_json),
        "error": error,
        "duration": record.duration,
        "actions": counts.tasks,
        "executed": counts.ran,
        "cache_hits": counts.cache_hits,
        "recovered": counts.recovered,
        "traces": counts.traces,
        "replayed": counts.replayed,
        "recovered_from": record.recovered_from,
    }


def summary_line(record: RunRecord, actions: list[ActionRecord]) -> str:
    """`Run NAME SUCCEEDED in 1.2s · 3 actions: 1 ran, 2 cache hits` (rich markup)."""
    from flyte._present import ActionCounts, duration, summary_text

    took = duration(record.duration)
    return (
        f"Run [bold cyan]{record.name}[/] {record.phase}"
        + (f" in {took}" if took else "")
        + f" · {summary_text(ActionCounts.of(actions))}"
    )


def hint_lines(hints: list[tuple[str, str]]) -> list[str]:
    """`  COMMAND  # what it does` lines with the comments aligned (rich markup).

    A command given `--store` or `--endpoint` hints commands that repeat it, so that
    they read the same store.
    """
    from flyte_cli._options import state

    if state.target:
        hints = [
            (f"flyte {state.target}{cmd[6:]}" if cmd.startswith("flyte ") else cmd, what)
            for cmd, what in hints
        ]
    width = max(len(cmd) for cmd, _ in hints)
    return [f"  {cmd.ljust(width)}  [dim]# {what}[/]" for cmd, what in hints]


def report(
    record: RunRecord, actions: list[ActionRecord], settings: RunSettings, *, store: RunStore
) -> int:
    """Print the end of a run (tree, outputs or traceback, next commands); return the exit code."""
    ok = str(record.phase) == "SUCCEEDED"
    summary = run_summary(record, actions)
    if settings.json:
        emit_json(summary)
        return 0 if ok else 1
    if settings.quiet:
        if ok:
            _print_outputs(record, console())
        else:
            _print_failure(record, console(stderr=True))
        return 0 if ok else 1
    out = console()
    out.print(
        run_tree(
            record,
            actions,
            max_children=20,
            logs=_failed_logs(store, record, actions),
            attempts=retried_attempts(store, record.name, actions),
            where=placements(store, record.name),
        )
    )
    out.print()
    if ok:
        _print_outputs(record, out)
    else:
        _print_failure(record, out)
    if watch_child():
        return 0 if ok else 1  # the watch loop prints the one summary line of each run
    out.print(summary_line(record, actions), style=None if ok else "red")
    hints = [
        (f"flyte get actions {record.name}", "the action tree"),
        (f"flyte logs {record.name}", "what the tasks printed"),
        (f"flyte get io {record.name}", "inputs and outputs"),
    ]
    if not ok:
        hints.append((f"flyte rerun {record.name} --recover", "run again, reusing what succeeded"))
    for line in hint_lines(hints):
        out.print(line, highlight=False)
    return 0 if ok else 1


def retried_attempts(
    store: RunStore, run: str, actions: list[ActionRecord]
) -> dict[str, list[AttemptRecord]]:
    """The attempts of every task action that ran more than once, by action id."""
    if not any(a.attempts > 1 and str(a.kind) == "task" for a in actions):
        return {}
    found: dict[str, list[AttemptRecord]] = {}
    for attempt in store.list_attempts(run):
        found.setdefault(attempt.action, []).append(attempt)
    return {k: v for k, v in found.items() if len(v) > 1}


def watch_child() -> bool:
    """Whether this `flyte run` is one run of a watch loop (`$FLYTE_WATCH_CHILD`)."""
    import os

    from flyte_cli._watch_child import WATCH_CHILD_ENV

    return os.environ.get(WATCH_CHILD_ENV) == "1"


def _print_outputs(record: RunRecord, out: Console) -> None:
    value = loads_json(record.outputs_json)
    if value is None:
        return
    if isinstance(value, str):
        out.print(value, markup=False, highlight=False)
    else:
        import json

        out.print(json.dumps(value, indent=2, default=str), markup=False, highlight=False)


def _print_failure(record: RunRecord, out: Console) -> None:
    if str(record.phase) == "ABORTED":
        message = record.error_message or "the run was aborted"
        out.print(message[:1].upper() + message[1:] + ".", markup=False, style="magenta")
    elif record.traceback:
        out.print(record.traceback.rstrip(), markup=False, highlight=False, style="red")
    else:
        out.print(f"{record.error_type}: {record.error_message}", markup=False, style="red")
    if out.stderr:
        out.print(f"Run {record.name} {record.phase}", markup=False)
