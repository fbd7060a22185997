"""Watch mode: `flyte run FILE TASK --watch` re-runs the task on every save.

The loop watches the project's Python files with watchfiles (in background threads),
debounces bursts of saves, and runs each run in a fresh child process
(`python -m flyte_cli run FILE TASK ...`), so edited modules really reload. On a change it
aborts the child in flight (SIGINT first, so the engine records the run ABORTED; SIGTERM and
SIGKILL only after a grace period) and starts a new one. The cache makes each re-run
incremental, and one summary line per run, read back from the run store, says what ran.

Why a child process per run and not `importlib.reload`: reloading leaves stale references
in every module that imported the edited one, while a fresh interpreter costs ~0.3 s and is
always right. Each child gets its own process group, so one signal reaches everything it
started and a terminal Ctrl-C reaches only the loop, which then stops the child exactly once.

Example:
    from flyte_cli._watch import watch_loop

    exit_code = watch_loop("examples/pipeline.py", "main", ["--n", "3"],
                           watch_paths=[], tui=False, module=False)
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flyte._store import RunStore

__all__ = [
    "RunSummary",
    "WatchFilter",
    "child_command",
    "find_project_root",
    "summarize",
    "watch_loop",
]

PROJECT_MARKERS = ("pyproject.toml", ".git", "setup.cfg")
"""Files or folders that mark a project root; the nearest parent holding one wins."""

IGNORED_DIRS = frozenset(
    {"__pycache__", "venv", "node_modules", "site-packages", "build", "dist", "htmlcov"}
)
"""Folder names never watched, besides hidden ones (`.venv`, `.git`, `.tox`, ...)."""

QUIET_MS = 100
"""A burst of saves ends after this much quiet (watchfiles `step`): "save all" and
format-on-save arrive as one change."""

MAX_BATCH_MS = 1_000
"""A burst never delays the re-run longer than this (watchfiles `debounce`)."""

SIGINT_GRACE = 3.0
"""Seconds a child gets to record its run ABORTED after SIGINT, before SIGTERM."""

SIGTERM_GRACE = 2.0
"""Seconds after SIGTERM before SIGKILL."""

_POLL_S = 0.05
_EDITOR_TEMP = re.compile(r"(\.py[cod]|\.sw.|~|\.___jb_...___)$|^(\.|#|flycheck_|4913$)")


# --- what to watch ----------------------------------------------------------------------


def find_project_root(path: str | os.PathLike[str]) -> Path:
    """The nearest folder at or above `path` holding pyproject.toml, .git or setup.cfg.

    Args:
        path: a file or folder of the project.

    Returns:
        The project root, or the folder of `path` when no parent is marked.
    """
    start = Path(path).resolve()
    folder = start if start.is_dir() else start.parent
    for candidate in (folder, *folder.parents):
        if any((candidate / marker).exists() for marker in PROJECT_MARKERS):
            return candidate
    return folder


def _module_file(module: str) -> Path:
    """Where `python -m module` would find `module`, without importing any of its packages.

    Importing to find out (importlib.util.find_spec) would run the user's package
    `__init__` in this long-lived process, and keep stale copies of it; a path search is
    enough to pick the folder to watch.
    """
    rel = Path(*module.split("."))
    for entry in [os.getcwd(), *sys.path]:
        base = Path(entry or os.getcwd())
        for candidate in (base / rel.with_suffix(".py"), base / rel / "__init__.py"):
            if candidate.is_file():
                return candidate
    return Path.cwd()


class GitIgnore:
    """A small `.gitignore` matcher for when `pathspec` is not installed.

    Supports comments, `!` negation, `dir/` (folders only), anchoring by a leading or inner
    `/`, and the globs `*`, `?`, `[...]` and `**`. As in git, nothing under an ignored
    folder can be re-included.

    Example:
        ignore = GitIgnore(["build/", "*.gen.py", "!keep.gen.py"])
        assert ignore("build/x.py", is_dir=False)
        assert not ignore("keep.gen.py", is_dir=False)
    """

    def __init__(self, lines: Sequence[str]) -> None:
        self._rules: list[tuple[re.Pattern[str], bool, bool]] = []
        for raw in lines:
            line = raw.rstrip("\n").rstrip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            if negate:
                line = line[1:]
            dir_only = line.endswith("/")
            line = line.rstrip("/")
            anchored = "/" in line
            line = line.lstrip("/")
            if not line:
                continue
            body = _glob_to_regex(line)
            self._rules.append(
                (re.compile(body if anchored else f"(?:.*/)?{body}"), negate, dir_only)
            )

    def _matches(self, rel: str, is_dir: bool) -> bool:
        ignored = False
        for regex, negate, dir_only in self._rules:
            if (is_dir or not dir_only) and regex.fullmatch(rel):
                ignored = not negate
        return ignored

    def __call__(self, rel: str, *, is_dir: bool) -> bool:
        """Whether the root-relative posix path `rel` is ignored."""
        parts = rel.split("/")
        for i in range(1, len(parts)):
            if self._matches("/".join(parts[:i]), True):
                return True
        return self._matches(rel, is_dir)


def _glob_to_regex(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == len(pattern):
            out.append("/.*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            cls = pattern[i + 1 : end].replace("\\", "\\\\")
            out.append("[^" + cls[1:] + "]" if cls.startswith("!") else "[" + cls + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def _load_gitignore(root: Path) -> Callable[..., bool]:
    """A matcher `(rel, is_dir=...) -> bool` for `root/.gitignore`; pathspec when installed."""
    try:
        lines = (root / ".gitignore").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return lambda rel, *, is_dir: False
    try:
        import pathspec
    except ImportError:
        return GitIgnore(lines)
    spec = pathspec.GitIgnoreSpec.from_lines(lines)
    return lambda rel, *, is_dir: bool(spec.match_file(rel + "/" if is_dir else rel))


def _skipped_dir(name: str) -> bool:
    return name.startswith(".") or name in IGNORED_DIRS or name.endswith(".egg-info")


class WatchFilter:
    """Which changed paths trigger a re-run (a watchfiles `watch_filter`).

    Under the project root: `.py` files outside hidden folders, `venv`, `__pycache__`,
    `node_modules` and what `.gitignore` lists. Under an extra `--watch-path`: any file
    but editor temporaries, in the same folders.

    Example:
        accept = WatchFilter(Path("/proj"), [Path("/data")])
        accept(Change.modified, "/proj/pkg/tasks.py")   # True
        accept(Change.modified, "/proj/.venv/x.py")     # False
    """

    def __init__(self, root: Path, extra: Sequence[Path] = ()) -> None:
        self.root = root
        self.extra = tuple(extra)
        self._ignored = _load_gitignore(root)

    def __call__(self, change: Any, path: str) -> bool:
        """Whether a change of `path` (absolute) should re-run the task."""
        p = Path(path)
        for base in self.extra:
            if p == base or base in p.parents:
                folders = p.relative_to(base).parts[:-1]
                return not _EDITOR_TEMP.search(p.name) and not any(map(_skipped_dir, folders))
        if p.suffix != ".py" or _EDITOR_TEMP.search(p.name):
            return False
        try:
            rel = p.relative_to(self.root)
        except ValueError:
            return False
        if any(map(_skipped_dir, rel.parts[:-1])):
            return False
        return not self._ignored(rel.as_posix(), is_dir=False)

    def watch_dir(self, folder: Path) -> bool:
        """Whether to watch a top-level `folder` of the root recursively."""
        rel = folder.relative_to(self.root).as_posix()
        return not _skipped_dir(folder.name) and not self._ignored(rel, is_dir=True)

    def targets(self) -> tuple[list[Path], list[Path]]:
        """(paths to watch alone, paths to watch recursively).

        The root is watched alone and its kept folders recursively, so the watcher never
        registers the thousands of folders of a `.venv` or `node_modules` only to filter
        their events out (inotify watches are a limited resource).
        """
        deep: list[Path] = []
        with contextlib.suppress(OSError):
            deep = [
                d
                for d in sorted(self.root.iterdir())
                if d.is_dir() and not d.is_symlink() and self.watch_dir(d)
            ]
        return [self.root], deep + [p for p in self.extra if p.exists()]


# --- the summary ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RunSummary:
    """What one run of the loop did, read back from the run store.

    `executed` counts task actions that ran their body (failed and aborted ones included);
    cache hits and recovered actions did not. `latency` is the seconds from the save
    (the newest mtime among the changed files) to the start of the run's root action.
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
        """The one-line, rich-markup summary printed after the run."""
        changed = ", ".join(self.changed[:3]) or "initial run"
        if len(self.changed) > 3:
            changed += f" +{len(self.changed) - 3} more"
        if self.run is None:
            return (
                f"[bold red]✗ no run[/] (flyte run exited {self.exit_code}; see the error "
                f"above) [dim]· changed: {changed}[/]"
            )
        colour = {"SUCCEEDED": "green", "ABORTED": "yellow"}.get(self.phase or "", "red")
        duration = f" in {self.duration:.2f}s" if self.duration is not None else ""
        counts = (
            f"{self.executed} executed · {self.cache_hits} cache hits · "
            f"{self.recovered} recovered · {self.failed} failed"
        )
        if self.aborted:
            counts += f" · {self.aborted} aborted"
        return (
            f"[bold {colour}]● {self.phase}[/] [bold]{self.run}[/]{duration}: {counts} "
            f"[dim]· changed: {changed}[/]"
        )


def summarize(
    store: RunStore,
    run_name: str | None,
    *,
    changed: Sequence[str] = (),
    exit_code: int | None = None,
    saved_at: float | None = None,
) -> RunSummary:
    """Count what the run `run_name` executed, hit in the cache, recovered and failed.

    Reading the run also settles it: the store marks a run whose driver died ABORTED on
    read, so a killed child never leaves its run RUNNING.

    Args:
        store: the run store the child wrote to.
        run_name: the run, or None when the child never created one (e.g. a syntax error).
        changed: the changed files that triggered the run, for the summary.
        exit_code: the child's exit code.
        saved_at: when the triggering save happened, for `latency`.

    Returns:
        The summary; `run=None` when there is no such run.
    """
    from flyte._models import ActionKind, CacheStatus, Phase

    record = store.get_run(run_name) if run_name else None
    if record is None:
        return RunSummary(run=None, phase=None, changed=tuple(changed), exit_code=exit_code)
    executed = hits = recovered = failed = aborted = 0
    root_start: float | None = None
    for action in store.list_actions(record.name):
        if action.parent is None:
            root_start = action.started_at
        if action.kind != ActionKind.TASK:
            continue
        if action.cache_status == CacheStatus.HIT:
            hits += 1
        elif action.recovered:
            recovered += 1
        elif action.started_at is not None:
            executed += 1
            failed += action.phase in (Phase.FAILED, Phase.TIMED_OUT)
            aborted += action.phase == Phase.ABORTED
    latency = None
    if saved_at is not None and root_start is not None:
        latency = root_start - saved_at
    return RunSummary(
        run=record.name,
        phase=str(record.phase),
        executed=executed,
        cache_hits=hits,
        recovered=recovered,
        failed=failed,
        aborted=aborted,
        duration=record.duration,
        changed=tuple(changed),
        exit_code=exit_code,
        latency=latency,
    )


# --- the child ----------------------------------------------------------------------------


def child_command(
    file: str, task: str, argv: Sequence[str], *, module: bool, quiet: bool = False
) -> list[str]:
    """The `flyte run` command line of one run of the loop, in a fresh interpreter.

    Args:
        file: the file, or the module with `module=True`.
        task: the task's name.
        argv: the task's inputs as the user gave them (`["--name", "World"]`).
        module: `file` is a module name (`flyte run -m pkg.mod TASK`).
        quiet: ask `flyte run` for no live tree (the TUI owns the screen).

    Returns:
        The argument list for subprocess.
    """
    cmd = [sys.executable, "-m", "flyte_cli", "run"]
    if quiet:
        cmd.append("--quiet")
    cmd += ["-m", file] if module else [file]
    return [*cmd, task, *argv]


class _Child:
    """One `flyte run` child process, leader of its own process group."""

    def __init__(self, cmd: list[str], *, output: IO[Any] | None, changed: tuple[str, ...]):
        self.changed = changed
        self.saved_at = _newest_mtime(changed)
        self.spawned_at = time.time()
        self.run_name: str | None = None
        group: dict[str, Any] = {}
        if os.name == "posix":
            # Python 3.11 can make a process group without a new session, so the child
            # keeps the terminal; 3.10 needs a session (still writes to the inherited tty).
            group = (
                {"process_group": 0} if sys.version_info >= (3, 11) else {"start_new_session": True}
            )
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=output, stderr=output, **group
        )

    def exited(self) -> bool:
        return self.proc.poll() is not None

    def find_run(self, store: RunStore) -> str | None:
        """The run this child drives: the newest one it created (matched by pid)."""
        if self.run_name is None:
            for record in store.list_runs(since=self.spawned_at - 1.0, limit=20):
                if record.pid == self.proc.pid:
                    self.run_name = record.name
                    break
        return self.run_name

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.name == "posix":
                os.killpg(self.proc.pid, sig)
            else:
                self.proc.send_signal(sig)

    def _wait_exit(self, timeout: float) -> bool:
        """Wait for the leader to exit, but leave it unreaped so its group id stays ours."""
        if not hasattr(os, "waitid"):
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.returncode is not None:
                return True
            try:
                if os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
                    return True
            except ChildProcessError:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def stop(self, store: RunStore) -> None:
        """Abort the run in flight and end the child and everything it started.

        SIGINT makes the engine abort the run and record it ABORTED; the store's abort flag
        does the same if the child ignores SIGINT. A second Ctrl-C skips the grace periods.
        """
        if self.proc.returncode is not None:
            return
        try:
            self._signal(signal.SIGINT)
            run = self.find_run(store)
            if run is not None:
                store.request_abort(run)
            if not self._wait_exit(SIGINT_GRACE):
                self._signal(signal.SIGTERM)
                if not self._wait_exit(SIGTERM_GRACE):
                    self._signal(signal.SIGKILL)
        except KeyboardInterrupt:
            self._signal(signal.SIGKILL)
            self._reap()
            raise
        self._reap()

    def _reap(self) -> None:
        if self.proc.returncode is None and os.name == "posix":
            self._wait_exit(5.0)
            self._signal(signal.SIGKILL)  # grandchildren left in the group: no strays
        self.proc.wait()


def _newest_mtime(paths: Sequence[str]) -> float | None:
    times = []
    for path in paths:
        with contextlib.suppress(OSError):
            times.append(os.stat(path).st_mtime)
    return max(times) if times else None


# --- the loop -----------------------------------------------------------------------------


class _WatchThread(threading.Thread):
    """Runs one watchfiles watcher and hands each batch of changes (or its error) over."""

    def __init__(
        self,
        paths: list[Path],
        *,
        recursive: bool,
        accept: WatchFilter,
        changes: queue.Queue[Any],
        stop: threading.Event,
    ) -> None:
        super().__init__(name="flyte-watch", daemon=True)
        self.paths = paths
        self.recursive = recursive
        self.accept = accept
        self.changes = changes
        self.stop = stop

    def run(self) -> None:
        import watchfiles

        try:
            # `step` is the quiet period that closes a burst, `debounce` its upper bound;
            # the stop event is checked every step, so stopping takes <= QUIET_MS.
            for batch in watchfiles.watch(
                *self.paths,
                watch_filter=self.accept,
                debounce=MAX_BATCH_MS,
                step=QUIET_MS,
                stop_event=self.stop,
                recursive=self.recursive,
                raise_interrupt=False,
                ignore_permission_denied=True,
            ):
                self.changes.put(batch)
        except Exception as exc:  # handed to the loop, which reports it and re-arms
            self.changes.put(exc)


class _Loop:
    """The state of one `flyte run --watch` session."""

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
        echo: Callable[[str], None],
        on_summary: Callable[[RunSummary], None] | None,
    ) -> None:
        from flyte._run import current_store

        self.cmd = child_command(file, task, argv, module=module, quiet=quiet)
        target = _module_file(file) if module else Path(file)
        self.root = find_project_root(target)
        self.accept = WatchFilter(self.root, [Path(p).resolve() for p in watch_paths])
        self.missing = [p for p in watch_paths if not Path(p).exists()]
        self.store = current_store()
        self.output = output
        self.echo = echo
        self.on_summary = on_summary
        self.changes: queue.Queue[Any] = queue.Queue()
        self._watch_stop = threading.Event()
        self._threads: list[_WatchThread] = []

    def _arm(self) -> None:
        """Start the watcher threads (again, after a watcher error)."""
        self._disarm()
        self._watch_stop = threading.Event()
        flat, deep = self.accept.targets()
        for paths, recursive in ((flat, False), (deep, True)):
            if paths:
                thread = _WatchThread(
                    paths,
                    recursive=recursive,
                    accept=self.accept,
                    changes=self.changes,
                    stop=self._watch_stop,
                )
                thread.start()
                self._threads.append(thread)

    def _disarm(self) -> None:
        self._watch_stop.set()
        for thread in self._threads:
            thread.join(timeout=2.0)
        self._threads = []

    def _spawn(self, changed: tuple[str, ...]) -> _Child:
        return _Child(self.cmd, output=self.output, changed=changed)

    def _report(self, child: _Child) -> RunSummary:
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
        return summary

    def _display(self, path: str) -> str:
        with contextlib.suppress(ValueError):
            return Path(path).relative_to(self.root).as_posix()
        return path

    def _drain(self, first: set[tuple[Any, str]]) -> tuple[str, ...]:
        """The changed paths of `first` and of any batch queued behind it."""
        paths = {path for _, path in first}
        while True:
            try:
                more = self.changes.get_nowait()
            except queue.Empty:
                break
            if isinstance(more, set):
                paths |= {path for _, path in more}
        return tuple(sorted(paths))

    def run(self, stop: threading.Event | None, max_runs: int | None) -> int:
        """Watch and re-run until `stop` is set, `max_runs` runs ended, or Ctrl-C.

        Returns:
            0 when stopped by `stop` or `max_runs`, 130 after Ctrl-C.
        """
        for path in self.missing:
            self.echo(f"[yellow]watch path {path} does not exist; ignored[/]")
        self._arm()
        self.echo(
            f"[dim]watching Python files under {self.root}"
            + "".join(f", {p}" for p in self.accept.extra)
            + " (Ctrl-C to stop)[/]"
        )
        child: _Child | None = None
        runs = 0
        try:
            child = self._spawn(())
            while stop is None or not stop.is_set():
                try:
                    item = self.changes.get(timeout=_POLL_S)
                except queue.Empty:
                    item = None
                if child is not None and child.exited():
                    self._report(child)
                    child, runs = None, runs + 1
                    if max_runs is not None and runs >= max_runs:
                        return 0
                if isinstance(item, Exception):
                    self.echo(f"[yellow]file watcher failed ({item}); restarting it[/]")
                    time.sleep(0.5)
                    self._arm()
                    continue
                if not item:
                    continue
                changed = self._drain(item)
                if child is not None:
                    shown = ", ".join(self._display(p) for p in changed[:3])
                    self.echo(f"[dim]↻ {shown} changed: aborting the run in flight[/]")
                    child.stop(self.store)
                    self._report(child)
                    child, runs = None, runs + 1
                    if max_runs is not None and runs >= max_runs:
                        return 0
                child = self._spawn(changed)
            return 0
        except KeyboardInterrupt:
            if child is not None:
                with contextlib.suppress(KeyboardInterrupt):
                    child.stop(self.store)
                    self._report(child)
                child = None
            self.echo("[dim]stopped watching[/]")
            return 130
        finally:
            if child is not None:
                child.stop(self.store)
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
) -> int:
    """Run `task` of `file`, then re-run it in a fresh process on every save, until Ctrl-C.

    Args:
        file: the user's file (or module, with `module=True`).
        task: the task's name.
        argv: the task's inputs as given on the command line, passed to every run.
        watch_paths: more files or folders to watch (any file type), besides the project's
            Python files.
        tui: show the dashboard (following the newest run) instead of each run's output.
        module: `file` is a module name.
        stop: set it to end the loop (tests, the TUI).
        max_runs: end the loop after this many runs ended (tests).
        on_summary: called with each run's summary (tests, benchmarks).

    Returns:
        The exit code: 0 when stopped, 130 after Ctrl-C.
    """
    from rich.console import Console

    if tui:
        return _watch_with_tui(
            file,
            task,
            argv,
            watch_paths=watch_paths,
            module=module,
            stop=stop,
            max_runs=max_runs,
            on_summary=on_summary,
        )
    console = Console(highlight=False, soft_wrap=True)
    loop = _Loop(
        file,
        task,
        argv,
        watch_paths=watch_paths,
        module=module,
        quiet=False,
        output=None,
        echo=console.print,
        on_summary=on_summary,
    )
    return loop.run(stop, max_runs)


def _watch_with_tui(
    file: str,
    task: str,
    argv: list[str],
    *,
    watch_paths: list[str],
    module: bool,
    stop: threading.Event | None,
    max_runs: int | None,
    on_summary: Callable[[RunSummary], None] | None,
) -> int:
    """The loop in a background thread while the dashboard owns the screen.

    The children's output and the summary lines go to `$FLYTE_HOME/watch.log`, since the
    screen is the TUI's; the dashboard shows each run from the store as it happens.
    """
    from rich.console import Console

    from flyte._store import flyte_home
    from tui import launch  # type: ignore[attr-defined,unused-ignore]

    log_path = flyte_home() / "watch.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    done = stop or threading.Event()
    with open(log_path, "a", encoding="utf-8", buffering=1) as log:
        console = Console(file=log, highlight=False, soft_wrap=True, no_color=True)
        loop = _Loop(
            file,
            task,
            argv,
            watch_paths=watch_paths,
            module=module,
            quiet=True,
            output=log,
            echo=console.print,
            on_summary=on_summary,
        )
        thread = threading.Thread(
            target=loop.run, args=(done, max_runs), name="flyte-watch-loop", daemon=True
        )
        thread.start()
        code = 0
        try:
            launch(loop.store, None, follow_latest=True)
        except KeyboardInterrupt:
            code = 130
        finally:
            done.set()
            thread.join(timeout=SIGINT_GRACE + SIGTERM_GRACE + 5.0)
    print(f"watch mode ended; run output and summaries are in {log_path}")
    return code
