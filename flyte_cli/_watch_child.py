"""Watch mode's children: each run of the loop is a `flyte run` in a fresh process.

A child per run rather than `importlib.reload`: reloading leaves stale references in every
module that imported the edited one; a fresh interpreter is always right. Its start-up cost
(~0.5 s, mostly imports) is hidden by a spare interpreter that imports flyte ahead of time
and waits. Each child leads its own process group, so one signal reaches everything it
started. Stopping a child sends SIGINT first, so the engine records the run ABORTED;
SIGTERM and SIGKILL follow only after a grace period.

Example:
    from flyte_cli._watch_child import Spawner, child_command

    spawner = Spawner(child_command("pipeline.py", "main", [], module=False),
                      output=None, store=store, warm=True)
    child = spawner.spawn(())
    child.stop(store)
    spawner.close()
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flyte.store import RunStore

__all__ = [
    "WATCH_CHILD_ENV",
    "Child",
    "SIGINT_GRACE",
    "SIGTERM_GRACE",
    "Spawner",
    "child_command",
]

WATCH_CHILD_ENV = "FLYTE_WATCH_CHILD"
"""Set to 1 in every child: it prints its tree and outputs, but no summary line, hints or
"Interrupted" notice, since the loop reports each run in one line."""

SIGINT_GRACE = 3.0
"""Seconds a child gets to record its run ABORTED after SIGINT, before SIGTERM."""

SIGTERM_GRACE = 2.0
"""Seconds after SIGTERM before SIGKILL."""

_SIGKILL = getattr(signal, "SIGKILL", signal.SIGTERM)  # Windows has no SIGKILL


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


class Child:
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
            client = None
            if getattr(store, "remote", False):  # a server drives it; the child submitted it
                from flyte.remote._controller import client_label

                client = client_label(self.proc.pid)
            for record in store.list_runs(since=self.spawned_at - 1.0, limit=20):
                mine = client is not None and record.labels.get("client") == client
                if record.pid == self.proc.pid or mine:
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


class Spawner:
    """Starts each run's child: a pre-warmed spare interpreter when one waits, else cold.

    The spare has imported flyte, Typer and rich (none of the user's code) and waits on
    stdin for its arguments, so a save starts the next run ~0.3 s sooner. A spare that
    imported a file which has since changed (when editing flyte itself) is discarded.
    """

    def __init__(self, cmd: list[str], *, output: IO[Any] | None, store: RunStore, warm: bool):
        self.cmd = cmd
        self.output = output
        self.warm = warm
        self.env = {**os.environ, WATCH_CHILD_ENV: "1"}
        if store.path not in (":memory:", "memory") and not getattr(store, "remote", False):
            # `flyte --store X run --watch` (a server's store: FLYTE_ENDPOINT is inherited)
            self.env["FLYTE_STORE"] = str(Path(store.path).resolve())
        self._spare: subprocess.Popen[bytes] | None = None
        self._code = tuple(_package_dir(name) for name in ("flyte", "flyte_cli"))

    def prepare(self) -> None:
        """Start a spare unless one waits (not while a run starts: cores are few)."""
        if self.warm and self._spare is None:
            cmd = [sys.executable, "-c", _SPARE]
            self._spare = _popen(cmd, stdin=subprocess.PIPE, output=self.output, env=self.env)

    def spawn(self, changed: tuple[str, ...]) -> Child:
        spare, self._spare = self._spare, None
        stale = any(p.startswith(self._code) for p in changed)
        if spare is not None and spare.stdin is not None and spare.poll() is None and not stale:
            with contextlib.suppress(OSError):  # it died meanwhile: start cold
                spare.stdin.write(json.dumps(self.cmd[3:]).encode() + b"\n")  # after `-m flyte_cli`
                spare.stdin.close()
                return Child(spare, changed)
        if spare is not None:
            self._discard(spare)
        cold = _popen(self.cmd, stdin=subprocess.DEVNULL, output=self.output, env=self.env)
        return Child(cold, changed)

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
