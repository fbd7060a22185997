"""Watch mode: `flyte run FILE TASK --watch` re-runs the task on every save.

The loop watches the project's Python files with watchfiles (in background threads),
debounces bursts of saves, and starts each run in a fresh `flyte run` child process, so
edited modules really reload. On a change it aborts the child in flight (SIGINT first, so
the engine records the run ABORTED; SIGTERM and SIGKILL only after a grace period) and
starts a new one. The cache makes each re-run incremental, and one summary line per run,
read back from the run store, says what executed, hit the cache, was recovered or failed.

A child per run rather than `importlib.reload`: reloading leaves stale references in every
module that imported the edited one; a fresh interpreter is always right. Its start-up cost
(~0.5 s, mostly imports) is hidden by a spare interpreter that imports flyte ahead of time
and waits. Each child leads its own process group, so one signal reaches everything it
started, and a terminal's Ctrl-C reaches only the loop, which stops the child exactly once.

Example:
    from flyte_cli._watch import watch_loop

    code = watch_loop("examples/pipeline.py", "main", ["--n", "3"],
                      watch_paths=[], tui=False, module=False)
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
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
    "GitIgnore",
    "RunSummary",
    "WatchFilter",
    "child_command",
    "find_project_root",
    "summarize",
    "watch_loop",
]

PROJECT_MARKERS = ("pyproject.toml", ".git", "setup.cfg")
"""What marks a project root; the nearest folder holding one wins."""

IGNORED_DIRS = frozenset({"__pycache__", "venv", "node_modules", "site-packages", "build", "dist"})
"""Folder names never watched, besides hidden ones (`.venv`, `.git`, `.tox`, ...)."""

QUIET_MS = 100
"""A burst of saves ends after this much quiet (watchfiles `step`), so "save all" and
format-on-save make one re-run."""

MAX_BATCH_MS = 1_000
"""A burst never holds the re-run back longer than this (watchfiles `debounce`)."""

SIGINT_GRACE = 3.0
"""Seconds a child gets to record its run ABORTED after SIGINT, before SIGTERM."""

SIGTERM_GRACE = 2.0
"""Seconds after SIGTERM before SIGKILL."""

_POLL_S = 0.05
_SIGKILL = getattr(signal, "SIGKILL", signal.SIGTERM)  # Windows has no SIGKILL
_SPARE_AFTER_S = 1.0
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
    """Where `python -m module` finds `module`, found by path: importing it here would run
    the user's package `__init__` in this long-lived process and keep a stale copy."""
    rel = Path(*module.split("."))
    for entry in [os.getcwd(), *sys.path]:
        base = Path(entry or os.getcwd())
        for candidate in (base / rel.with_suffix(".py"), base / rel / "__init__.py"):
            if candidate.is_file():
                return candidate
    return Path.cwd()


class GitIgnore:
    """A simple `.gitignore` matcher, used when `pathspec` is not installed.

    Handles comments, `!` negation, `dir/` (folders only), anchoring by a `/` and fnmatch
    globs (a `*` of an anchored pattern may cross folders). As in git, nothing under an
    ignored folder is re-included.

    Example:
        ignore = GitIgnore(["build/", "*_gen.py", "!keep_gen.py"])
        assert ignore("build/x.py", is_dir=False)
        assert not ignore("keep_gen.py", is_dir=False)
    """

    def __init__(self, lines: Sequence[str]) -> None:
        self._rules: list[tuple[str, bool, bool, bool]] = []
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            line = (line[1:] if negate else line).removeprefix("**/")
            dir_only = line.endswith("/")
            line = line.rstrip("/")
            anchored = "/" in line
            if line.lstrip("/"):
                self._rules.append((line.lstrip("/"), negate, dir_only, anchored))

    def _matches(self, rel: str, is_dir: bool) -> bool:
        ignored = False
        for pattern, negate, dir_only, anchored in self._rules:
            target = rel if anchored else rel.rpartition("/")[2]
            if (is_dir or not dir_only) and fnmatch.fnmatchcase(target, pattern):
                ignored = not negate
        return ignored

    def __call__(self, rel: str, *, is_dir: bool) -> bool:
        """Whether the root-relative posix path `rel` is ignored."""
        parts = rel.split("/")
        folders = ("/".join(parts[:i]) for i in range(1, len(parts)))
        return any(self._matches(f, True) for f in folders) or self._matches(rel, is_dir)


def _load_gitignore(root: Path) -> Callable[..., bool]:
    """A matcher `(rel, *, is_dir) -> bool` for `root/.gitignore`: pathspec if installed."""
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
    """Which changed paths re-run the task (a watchfiles `watch_filter`).

    Under the project root: `.py` files, except in hidden folders, `venv`, `__pycache__`,
    `node_modules`, ... and what `.gitignore` lists. Under an extra `--watch-path`: any
    file but editor temporaries, outside those folders.

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
        if _EDITOR_TEMP.search(p.name):
            return False
        for base in self.extra:
            if p == base or base in p.parents:
                return not any(map(_skipped_dir, p.relative_to(base).parts[:-1]))
        if p.suffix != ".py" or self.root not in p.parents:
            return False
        rel = p.relative_to(self.root)
        if any(map(_skipped_dir, rel.parts[:-1])):
            return False
        return not self._ignored(rel.as_posix(), is_dir=False)

    def targets(self) -> tuple[list[Path], list[Path]]:
        """(paths to watch alone, paths to watch recursively).

        The root is watched alone and its kept folders recursively, so the watcher never
        registers the thousands of folders of a `.venv` or `node_modules` only to drop
        their events (inotify watches are a limited resource).
        """
        deep: list[Path] = []
        with contextlib.suppress(OSError):
            for d in sorted(self.root.iterdir()):
                rel = d.relative_to(self.root).as_posix()
                if d.is_dir() and not _skipped_dir(d.name) and not self._ignored(rel, is_dir=True):
                    deep.append(d)
        return [self.root], deep + [p for p in self.extra if p.exists()]


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
        changed = _escape(", ".join(self.changed[:3])) or "initial run"
        if len(self.changed) > 3:
            changed += f" +{len(self.changed) - 3} more"
        if self.run is None:
            return (
                f"[bold red]✗ no run[/]: flyte run exited {self.exit_code} (see above); "
                f"still watching [dim]· changed: {changed}[/]"
            )
        colour = {"SUCCEEDED": "green", "ABORTED": "yellow"}.get(self.phase or "", "red")
        took = f" in {self.duration:.2f}s" if self.duration is not None else ""
        counts = (
            f"{self.executed} executed · {self.cache_hits} cache hits · "
            f"{self.recovered} recovered · {self.failed} failed"
        )
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
    from flyte._models import ActionKind, CacheStatus, Phase

    record = store.get_run(run_name) if run_name else None
    if record is None:
        return RunSummary(run=None, phase=None, changed=tuple(changed), exit_code=exit_code)
    counts = dict.fromkeys(("executed", "cache_hits", "recovered", "failed", "aborted"), 0)
    root_start: float | None = None
    for action in store.list_actions(record.name):
        if action.parent is None:
            root_start = action.started_at
        if action.kind != ActionKind.TASK:
            continue
        if action.cache_status == CacheStatus.HIT:
            counts["cache_hits"] += 1
        elif action.recovered:
            counts["recovered"] += 1
        elif action.started_at is not None:
            counts["executed"] += 1
            counts["failed"] += action.phase in (Phase.FAILED, Phase.TIMED_OUT)
            counts["aborted"] += action.phase == Phase.ABORTED
    return RunSummary(
        run=record.name,
        phase=str(record.phase),
        duration=record.duration,
        changed=tuple(changed),
        exit_code=exit_code,
        latency=None if saved_at is None or root_start is None else root_start - saved_at,
        **counts,
    )


# --- the children -------------------------------------------------------------------------


def child_command(
    file: str, task: str, argv: Sequence[str], *, module: bool, quiet: bool = False
) -> list[str]:
    """The command line of one run of the loop: `flyte run` in a fresh interpreter.

    Args:
        file: the file, or the module with `module=True`.
        task: the task's name.
        argv: the task's inputs as the user gave them (`["--name", "World"]`).
        module: `file` is a module name (`flyte run -m pkg.mod TASK`).
        quiet: no live tree (the TUI owns the screen).

    Returns:
        The argument list for subprocess.
    """
    options = ["--quiet"] if quiet else []
    target = ["-m", file] if module else [file]
    return [sys.executable, "-m", "flyte_cli", "run", *options, *target, task, *argv]


# What a cold `flyte run` spends its start-up on; the spare imports it ahead of time.
_WARM_MODULES = (
    "flyte",
    "flyte._controller.local",
    "flyte_cli.main",
    "flyte_cli.run",
    "flyte_cli._execute",
    "flyte_cli._loader",
    "flyte_cli._params",
    "flyte_cli._tree",
)
_SPARE = f"""\
import importlib, json, os, sys
try:
    for name in {_WARM_MODULES!r}:
        importlib.import_module(name)
except Exception:
    os._exit(3)  # the loop then starts a cold `flyte run`, which shows the error
line = sys.stdin.readline()
if not line:
    os._exit(0)
os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
sys.argv = ["flyte", *json.loads(line)]
from flyte_cli.main import run_cli  # the submodule now shadows the function flyte_cli.main
run_cli()
"""


class _Child:
    """One `flyte run` child process, the leader of its own process group."""

    def __init__(self, proc: subprocess.Popen[bytes], changed: tuple[str, ...]) -> None:
        self.proc = proc
        self.changed = changed
        self.saved_at = _newest_mtime(changed)
        self.spawned_at = time.time()
        self.run_name: str | None = None

    def exited(self) -> bool:
        return self.proc.poll() is not None

    def find_run(self, store: RunStore) -> str | None:
        """The run this child drives: the one it created (matched by its pid)."""
        if self.run_name is None:
            for record in store.list_runs(since=self.spawned_at - 1.0, limit=20):
                if record.pid == self.proc.pid:
                    self.run_name = record.name
                    break
        return self.run_name

    def stop(self, store: RunStore) -> None:
        """Abort the run in flight; end the child and everything it started.

        SIGINT makes the engine abort the run and record it ABORTED; the store's abort flag
        does the same if the child ignores SIGINT. A second Ctrl-C skips the grace periods.
        """
        if self.proc.returncode is not None:
            return
        try:
            _signal_group(self.proc, signal.SIGINT)
            run = self.find_run(store)
            if run is not None:
                store.request_abort(run)
            if not _wait_exit(self.proc, SIGINT_GRACE):
                _signal_group(self.proc, signal.SIGTERM)
                if not _wait_exit(self.proc, SIGTERM_GRACE):
                    _signal_group(self.proc, _SIGKILL)
        except KeyboardInterrupt:
            _signal_group(self.proc, _SIGKILL)
            raise
        finally:
            _reap(self.proc)


def _popen(
    cmd: list[str], *, stdin: int, output: IO[Any] | None, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    group: dict[str, Any] = {}
    if os.name == "posix":
        # 3.11 makes a process group without a new session, so the child keeps the
        # terminal; 3.10 needs a session (the child still writes to the inherited tty).
        py311 = sys.version_info >= (3, 11)
        group = {"process_group": 0} if py311 else {"start_new_session": True}
    return subprocess.Popen(cmd, stdin=stdin, stdout=output, stderr=output, env=env, **group)


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.name == "posix":
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)


def _wait_exit(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait for `proc` to exit, unreaped, so its group id cannot be reused meanwhile."""
    if not hasattr(os, "waitid") or not hasattr(os, "WNOWAIT"):
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
        return proc.returncode is not None
    deadline = time.monotonic() + timeout
    while proc.returncode is None:
        try:
            if os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
                return True
        except ChildProcessError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def _reap(proc: subprocess.Popen[bytes]) -> None:
    """Reap `proc`, first SIGKILLing what it left in its group: no stray processes."""
    if proc.returncode is None and os.name == "posix":
        _wait_exit(proc, 5.0)
        _signal_group(proc, _SIGKILL)
    proc.wait()


def _newest_mtime(paths: Sequence[str]) -> float | None:
    times = []
    for path in paths:
        with contextlib.suppress(OSError):
            times.append(os.stat(path).st_mtime)
    return max(times) if times else None


class _Spawner:
    """Starts each run's child: a pre-warmed spare interpreter when one waits, else cold.

    The spare has imported flyte, Typer and rich (none of the user's code) and waits on
    stdin for its arguments, so a save starts the next run ~0.3 s sooner. A spare that
    imported a file which has since changed (when editing flyte itself) is discarded.
    """

    def __init__(self, cmd: list[str], *, output: IO[Any] | None, store: RunStore, warm: bool):
        self.cmd = cmd
        self.output = output
        self.warm = warm
        self.env = dict(os.environ)
        if store.path not in (":memory:", "memory"):  # `flyte --store X run --watch`
            self.env["FLYTE_STORE"] = str(Path(store.path).resolve())
        self._spare: subprocess.Popen[bytes] | None = None
        self._code = tuple(_package_dir(name) for name in ("flyte", "flyte_cli"))

    def prepare(self) -> None:
        """Start a spare unless one waits (not while a run starts: cores are few)."""
        if self.warm and self._spare is None:
            cmd = [sys.executable, "-c", _SPARE]
            self._spare = _popen(cmd, stdin=subprocess.PIPE, output=self.output, env=self.env)

    def spawn(self, changed: tuple[str, ...]) -> _Child:
        spare, self._spare = self._spare, None
        stale = any(p.startswith(self._code) for p in changed)
        if spare is not None and spare.stdin is not None and spare.poll() is None and not stale:
            with contextlib.suppress(OSError):  # it died meanwhile: start cold
                spare.stdin.write(json.dumps(self.cmd[3:]).encode() + b"\n")  # after `-m flyte_cli`
                spare.stdin.close()
                return _Child(spare, changed)
        if spare is not None:
            self._discard(spare)
        cold = _popen(self.cmd, stdin=subprocess.DEVNULL, output=self.output, env=self.env)
        return _Child(cold, changed)

    def close(self) -> None:
        if self._spare is not None:
            self._discard(self._spare)
            self._spare = None

    @staticmethod
    def _discard(spare: subprocess.Popen[bytes]) -> None:
        _signal_group(spare, _SIGKILL)
        _reap(spare)


def _package_dir(name: str) -> str:
    import importlib.util

    spec = importlib.util.find_spec(name)
    origin = spec.origin if spec is not None and spec.origin else name
    return str(Path(origin).resolve().parent) + os.sep


# --- the loop -----------------------------------------------------------------------------


def _watch_thread(
    paths: list[Path], recursive: bool, accept: WatchFilter, out: queue.Queue[Any], stop: Any
) -> threading.Thread:
    """A thread running one watchfiles watcher, queueing each batch of changes (or its
    error). `step` is the quiet that closes a burst and `debounce` its upper bound; the stop
    event is checked every step, so stopping takes <= QUIET_MS."""

    def run() -> None:
        import watchfiles

        try:
            for batch in watchfiles.watch(
                *paths,
                watch_filter=accept,
                debounce=MAX_BATCH_MS,
                step=QUIET_MS,
                stop_event=stop,
                recursive=recursive,
                raise_interrupt=False,
                ignore_permission_denied=True,
            ):
                out.put(batch)
        except Exception as exc:  # the loop reports it and re-arms
            out.put(exc)

    thread = threading.Thread(target=run, name="flyte-watch", daemon=True)
    thread.start()
    return thread


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

        self.root = find_project_root(_module_file(file) if module else Path(file))
        self.accept = WatchFilter(self.root, [Path(p).resolve() for p in watch_paths])
        self.missing = [p for p in watch_paths if not Path(p).exists()]
        self.store = get_store()
        cmd = child_command(file, task, argv, module=module, quiet=quiet)
        self.spawner = _Spawner(cmd, output=output, store=self.store, warm=warm)
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
                self._threads.append(_watch_thread(*args))

    def _disarm(self) -> None:
        self._watch_stop.set()
        for thread in self._threads:
            thread.join(timeout=2.0)
        self._threads = []

    def _report(self, child: _Child) -> None:
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
        child: _Child | None = None
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
                    # Printed once the old child is gone: its live tree would overwrite it.
                    shown = ", ".join(self._display(p) for p in changed[:3])
                    self.echo(f"[dim]↻ {_escape(shown)} changed: running again[/]")
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

    from flyte._store import flyte_home
    from tui import launch

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
