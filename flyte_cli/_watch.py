"""Watch mode: `flyte run FILE TASK --watch` re-runs the task on every save.

The loop watches the project's Python files (what it watches, and the watcher threads, are
in `_watch_files`), debounces bursts of saves, and starts each run in a fresh `flyte run`
child process (`_watch_child`), so edited modules really reload. On a change it aborts the
child in flight and starts a new one. The cache makes each re-run incremental, and one
summary line per run, read back from the run store, says what executed, hit the cache, was
recovered or failed. A terminal's Ctrl-C reaches only the loop, which stops the child
exactly once; SIGTERM and SIGHUP stop it the same way.

Example:
    from flyte_cli._watch import watch_loop

    code = watch_loop("examples/pipeline.py", "main", ["--n", "3"],
                      watch_paths=[], tui=False, module=False)
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from flyte_cli._watch_child import SIGINT_GRACE, SIGTERM_GRACE, Child, Spawner, child_command
from flyte_cli._watch_files import (
    QUIET_MS,
    GitIgnore,
    WatchFilter,
    find_project_root,
    module_file,
    watch_thread,
)

if TYPE_CHECKING:
    from flyte.store import RunStore

# GitIgnore, QUIET_MS, WatchFilter, child_command and find_project_root are re-exported for
# the importers of `flyte_cli._watch` (benchmarks/bench_watch.py reads QUIET_MS).
__all__ = [
    "GitIgnore",
    "QUIET_MS",
    "RunSummary",
    "WatchFilter",
    "child_command",
    "find_project_root",
    "summarize",
    "watch_loop",
]

_POLL_S = 0.05
_SPARE_AFTER_S = 1.0


# --- the summary ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RunSummary:
    """What one run of the loop did, read back from the run store.

    `executed` counts task actions that ran their body (failed and aborted ones too), not
    cache hits or recovered ones. `latency` is the seconds from the save (the newest mtime
    of the changed files) to the start of the run's root action.
    """

    run: str | None
    phase: str | None
    executed: int = 0
    cache_hits: int = 0
    recovered: int = 0
    failed: int = 0
    aborted: int = 0
    duration: float | None = None
    changed: tuple[str, ...] = ()
    exit_code: int | None = None
    latency: float | None = None

    def line(self) -> str:
        """The one-line summary (rich markup) printed after the run."""
        from flyte._present import duration, plural

        changed = _escape(", ".join(self.changed[:3])) or "initial run"
        if len(self.changed) > 3:
            changed += f" +{len(self.changed) - 3} more"
        if self.run is None:
            return (
                f"[bold red]✗ no run[/]: flyte run exited {self.exit_code} (see above); "
                f"still watching [dim]· changed: {changed}[/]"
            )
        colour = {"SUCCEEDED": "green", "ABORTED": "yellow"}.get(self.phase or "", "red")
        took = duration(self.duration)
        took = f" in {took}" if took else ""
        counts = f"{self.executed} ran · {plural(self.cache_hits, 'cache hit')}"
        counts += f" · {self.recovered} recovered" if self.recovered else ""
        counts += f" · {self.failed} failed" if self.failed else ""
        counts += f" · {self.aborted} aborted" if self.aborted else ""
        return f"[bold {colour}]● {self.phase}[/] {self.run}{took}: {counts} [dim]· changed: {changed}[/]"


def summarize(
    store: RunStore,
    run_name: str | None,
    *,
    changed: Sequence[str] = (),
    exit_code: int | None = None,
    saved_at: float | None = None,
) -> RunSummary:
    """Count what run `run_name` executed, hit in the cache, recovered and failed.

    Reading the run also settles it: the store marks a run whose driver died ABORTED when
    read, so a killed child never leaves its run RUNNING.

    Args:
        store: the run store the child wrote to.
        run_name: the run, or None when the child made none (e.g. a syntax error).
        changed: the changed files that started the run.
        exit_code: the child's exit code.
        saved_at: when the save that started the run happened, for `latency`.

    Returns:
        The summary (`run=None` when there is no such run).
    """
    from flyte._present import ActionCounts

    record = store.get_run(run_name) if run_name else None
    if record is None:
        return RunSummary(run=None, phase=None, changed=tuple(changed), exit_code=exit_code)
    actions = store.list_actions(record.name)
    root_start = next((a.started_at for a in actions if a.parent is None), None)
    found = ActionCounts.of(actions)
    counts = {
        "executed": found.ran,
        "cache_hits": found.cache_hits,
        "recovered": found.recovered,
        "failed": found.failed,
        "aborted": found.aborted,
    }
    return RunSummary(
        run=record.name,
        phase=str(record.phase),
        duration=record.duration,
        changed=tuple(changed),
        exit_code=exit_code,
        latency=None if saved_at is None or root_start is None else root_start - saved_at,
        **counts,
    )


# --- the loop -----------------------------------------------------------------------------


class _Terminated(BaseException):
    """SIGTERM or SIGHUP reached the loop: stop the child as for Ctrl-C, then exit."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.code = 128 + signum


def _raise_on_termination() -> Callable[[], None]:
    """Turn SIGTERM/SIGHUP into `_Terminated` (main thread only); returns the undo.

    Otherwise `kill` or closing the terminal would end the loop and orphan the child.
    """
    if threading.current_thread() is not threading.main_thread() or os.name != "posix":
        return lambda: None

    def handler(signum: int, frame: Any) -> None:
        raise _Terminated(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


class _Loop:
    """One `flyte run --watch` session: watchers, the child in flight, the summaries."""

    def __init__(
        self,
        file: str,
        task: str,
        argv: Sequence[str],
        *,
        watch_paths: Sequence[str],
        module: bool,
        quiet: bool,
        output: IO[Any] | None,
        warm: bool,
        echo: Callable[[str], None],
        on_summary: Callable[[RunSummary], None] | None,
    ) -> None:
        from flyte_cli._options import get_store

        self.root = find_project_root(module_file(file) if module else Path(file))
        self.accept = WatchFilter(self.root, [Path(p).resolve() for p in watch_paths])
        self.missing = [p for p in watch_paths if not Path(p).exists()]
        self.store = get_store()
        cmd = child_command(file, task, argv, module=module, quiet=quiet)
        self.spawner = Spawner(cmd, output=output, store=self.store, warm=warm)
        self.echo = echo
        self.on_summary = on_summary
        self.changes: queue.Queue[Any] = queue.Queue()
        self._watch_stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _arm(self) -> None:
        """Start the watcher threads (again, after a watcher failed)."""
        self._disarm()
        self._watch_stop = threading.Event()
        flat, deep = self.accept.targets()
        for paths, recursive in ((flat, False), (deep, True)):
            if paths:
                args = (paths, recursive, self.accept, self.changes, self._watch_stop)
                self._threads.append(watch_thread(*args))

    def _disarm(self) -> None:
        self._watch_stop.set()
        for thread in self._threads:
            thread.join(timeout=2.0)
        self._threads = []

    def _report(self, child: Child) -> None:
        child.proc.wait()
        summary = summarize(
            self.store,
            child.find_run(self.store),
            changed=[self._display(p) for p in child.changed],
            exit_code=child.proc.returncode,
            saved_at=child.saved_at,
        )
        self.echo(summary.line())
        if self.on_summary is not None:
            self.on_summary(summary)

    def _display(self, path: str) -> str:
        with contextlib.suppress(ValueError):
            return Path(path).relative_to(self.root).as_posix()
        return path

    def _next_changes(self) -> tuple[str, ...]:
        """The paths changed since last asked, waiting up to _POLL_S for the first batch."""
        paths: set[str] = set()
        timeout: float | None = _POLL_S
        while True:
            try:
                item = self.changes.get(timeout=timeout) if timeout else self.changes.get_nowait()
            except queue.Empty:
                return tuple(sorted(paths))
            timeout = None
            if isinstance(item, Exception):
                self.echo(f"[yellow]the file watcher failed ({_escape(str(item))}); restarting[/]")
                time.sleep(0.5)
                self._arm()
            else:
                paths |= {path for _, path in item}

    def run(self, stop: threading.Event | None, max_runs: int | None) -> int:
        """Watch and re-run until `stop` is set, `max_runs` runs ended, Ctrl-C or SIGTERM.

        Returns:
            0 when stopped by `stop` or `max_runs`; 130 after Ctrl-C (128 + N for signal N).
        """
        for path in self.missing:
            self.echo(f"[yellow]watch path {_escape(path)} does not exist; ignored[/]")
        where = _escape("".join(f", {p}" for p in (self.root, *self.accept.extra))[2:])
        self.echo(f"[dim]watching Python files under {where} (Ctrl-C to stop)[/]")
        self._arm()
        child: Child | None = None
        runs = 0
        restore = _raise_on_termination()
        try:
            child = self.spawner.spawn(())
            while stop is None or not stop.is_set():
                changed = self._next_changes()
                if child is not None and (changed or child.exited()):
                    if changed and not child.exited():
                        child.stop(self.store)  # SIGINT: the run ends ABORTED
                    self._report(child)
                    child, runs = None, runs + 1
                    if max_runs is not None and runs >= max_runs:
                        return 0
                if changed:
                    # No "running again" line: each run ends with its one summary line,
                    # which names the change that started it.
                    child = self.spawner.spawn(changed)
                elif child is None or time.time() - child.spawned_at > _SPARE_AFTER_S:
                    self.spawner.prepare()
            return 0
        except (KeyboardInterrupt, _Terminated) as exc:
            if child is not None:
                with contextlib.suppress(KeyboardInterrupt, _Terminated):
                    child.stop(self.store)
                    self._report(child)
                    child = None
            self.echo("[dim]stopped watching[/]")
            return exc.code if isinstance(exc, _Terminated) else 130
        finally:
            restore()
            if child is not None:
                child.stop(self.store)
            self.spawner.close()
            self._disarm()


def watch_loop(
    file: str,
    task: str,
    argv: list[str],
    *,
    watch_paths: list[str],
    tui: bool,
    module: bool,
    stop: threading.Event | None = None,
    max_runs: int | None = None,
    on_summary: Callable[[RunSummary], None] | None = None,
    warm: bool = True,
) -> int:
    """Run `task` of `file`, then again in a fresh process on every save, until Ctrl-C.

    Args:
        file: the user's file (or module, with `module=True`).
        task: the task's name.
        argv: the task's inputs as given on the command line, passed to every run.
        watch_paths: more files or folders to watch (any file type), besides the project's
            Python files.
        tui: show the dashboard, following the newest run, instead of each run's output.
        module: `file` is a module name.
        stop: set it to end the loop (tests).
        max_runs: end the loop once this many runs ended (tests).
        on_summary: called with each run's summary (tests, benchmarks).
        warm: keep a pre-warmed interpreter ready for the next run (lower latency).

    Returns:
        The exit code: 0 when stopped, 130 after Ctrl-C (128 + N after signal N).
    """
    from rich.console import Console

    options: dict[str, Any] = {"watch_paths": watch_paths, "module": module, "warm": warm}
    options["on_summary"] = on_summary
    if tui:
        return _watch_with_tui(file, task, argv, stop=stop, max_runs=max_runs, **options)
    console = Console(highlight=False, soft_wrap=True)
    loop = _Loop(file, task, argv, quiet=False, output=None, echo=console.print, **options)
    return loop.run(stop, max_runs)


def _watch_with_tui(
    file: str,
    task: str,
    argv: list[str],
    *,
    stop: threading.Event | None,
    max_runs: int | None,
    **options: Any,
) -> int:
    """The loop in a background thread while the dashboard owns the screen.

    The children's output and the summary lines go to `$FLYTE_HOME/watch.log`, since the
    screen is the TUI's; the dashboard follows each new run through the store.
    """
    from rich.console import Console

    from flyte.store import flyte_home
    from flyte_tui import launch

    log_path = flyte_home() / "watch.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    done = stop or threading.Event()
    with open(log_path, "a", encoding="utf-8", buffering=1) as log:
        console = Console(file=log, highlight=False, soft_wrap=True, no_color=True)
        loop = _Loop(file, task, argv, quiet=True, output=log, echo=console.print, **options)
        thread = threading.Thread(target=loop.run, args=(done, max_runs), daemon=True)
        thread.start()
        code = 0
        try:
            launch(loop.store, None, follow_latest=True)
        except KeyboardInterrupt:
            code = 130
        finally:
            done.set()
            thread.join(timeout=SIGINT_GRACE + SIGTERM_GRACE + 5.0)
    print(f"watch mode ended; the runs' output and summaries are in {log_path}")
    return code
