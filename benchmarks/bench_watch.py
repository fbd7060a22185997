"""Watch latency: from saving a file to the first action of the run `flyte run --watch` starts.

Skipped, with a note, until `flyte_cli/_watch.py` and `flyte_cli/main.py` exist (the CLI and
watch-mode issues write them).
The measurement is written against the documented behaviour (DESIGN.md section 8): the
watcher runs `FILE TASK`, and on a save starts a fresh run recorded in `$FLYTE_HOME/runs.db`.
Latency = `started_at` of the new run's first action minus the moment the save completed,
less the watcher's debounce (read from `flyte_cli._watch` when it exposes one).
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _harness import REPO, Row, clean_env, flyte_executable, median, spawn_timed, write_script

__all__ = ["watch_latency"]

TARGET_S = 0.5
_TIMEOUT = 30.0

PIPELINE = """\
import flyte

env = flyte.TaskEnvironment("watchbench")

VERSION = {version}


@env.task
def leaf(x: int) -> int:
    return x + VERSION


@env.task
def main() -> int:
    return leaf(1)
"""

# Where the watcher may expose the quiet period that closes a burst of saves.
_DEBOUNCE_NAMES = ("QUIET_MS", "DEBOUNCE_MS", "DEBOUNCE_S", "DEBOUNCE_SECONDS", "DEBOUNCE")


def _missing() -> str | None:
    if not (REPO / "flyte_cli" / "_watch.py").exists():
        return "flyte_cli/_watch.py does not exist yet (the watch-mode issue writes it)"
    if not (REPO / "flyte_cli" / "main.py").exists():
        return "flyte_cli/_watch.py exists, but flyte_cli/main.py (`flyte run`) does not yet"
    if not flyte_executable().exists():
        return "the `flyte` console script is not installed (run `make install`)"
    return None


def _debounce_seconds() -> tuple[float, str]:
    """The watcher's debounce, if `flyte_cli._watch` exposes it as a module constant."""
    try:
        module = importlib.import_module("flyte_cli._watch")
    except Exception as exc:  # the module is someone else's work in progress
        return 0.0, f"could not import flyte_cli._watch ({exc.__class__.__name__})"
    for name in _DEBOUNCE_NAMES:
        value = getattr(module, name, None)
        if isinstance(value, int | float):
            seconds = value / 1000.0 if name.endswith("_MS") or value > 20 else float(value)
            return seconds, f"debounce {seconds * 1000:.0f} ms (flyte_cli._watch.{name})"
    return 0.0, "no debounce constant found in flyte_cli._watch: raw latency"


def _wait_for(
    predicate: Any,
    *,
    watcher: subprocess.Popen[bytes],
    log: Path,
    what: str,
    timeout: float = _TIMEOUT,
) -> Any:
    """Poll `predicate` until it is truthy; fail fast, with its output, if the watcher died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if watcher.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-5:]
            raise RuntimeError(
                f"the watcher exited {watcher.returncode} while waiting for {what}: "
                + " / ".join(tail)
            )
        time.sleep(0.005)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def _first_action_start(store: Any, run_name: str) -> float | None:
    starts = [a.started_at for a in store.list_actions(run_name) if a.started_at is not None]
    return min(starts) if starts else None


def watch_latency(reps: int, workdir: Path) -> list[Row]:
    title = "watch: save -> first action of the new run"
    reason = _missing()
    if reason is not None:
        return [
            Row(
                name="watch_latency",
                title=title,
                unit="s",
                target=TARGET_S,
                skipped=True,
                note=reason,
            )
        ]

    from flyte._store import open_store

    home = workdir / "home"
    home.mkdir()
    project = workdir / "project"
    write_script(project, "pyproject.toml", '[project]\nname = "watchbench"\nversion = "0"\n')
    pipeline = write_script(project, "pipeline.py", PIPELINE.format(version=0))
    debounce, debounce_note = _debounce_seconds()
    # Plain-Python floor of a restart-on-save loop: starting a fresh interpreter.
    floor = median(
        [
            spawn_timed([sys.executable, "-c", "pass"], env=clean_env(), cwd=project)[0]
            for _ in range(5)
        ]
    )
    flyte = str(flyte_executable())
    log_path = workdir / "watch.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [flyte, "run", "--watch", str(pipeline), "main"],
        cwd=project,
        env=clean_env(FLYTE_HOME=str(home)),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    latencies: list[float] = []

    def wait(predicate: Any, what: str) -> Any:
        return _wait_for(predicate, watcher=proc, log=log_path, what=what)

    try:
        db = home / "runs.db"
        wait(db.exists, "the watcher's first run to create the store")
        store = open_store(db)

        def settled() -> bool:
            runs = store.list_runs(limit=1)
            return bool(runs) and runs[0].phase.is_terminal

        wait(settled, "the first run to end")
        for rep in range(reps):
            seen = {r.name for r in store.list_runs(limit=None)}
            time.sleep(0.3)  # let the watcher go idle again
            pipeline.write_text(PIPELINE.format(version=rep + 1))
            saved = time.time()

            def new_run(seen: set[str] = seen) -> str | None:
                fresh = [r.name for r in store.list_runs(limit=5) if r.name not in seen]
                return fresh[0] if fresh else None

            name = wait(new_run, "a new run after the save")
            first = wait(lambda name=name: _first_action_start(store, name), "its first action")
            if first < saved:
                raise AssertionError(f"run {name} started {saved - first:.3f} s before the save")
            latencies.append(first - saved)
            wait(settled, "the new run to end")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
    raw = median(latencies)
    return [
        Row(
            name="watch_latency",
            title=title,
            unit="s",
            value=raw - debounce,
            baseline=floor,
            baseline_label="python -c pass",
            target=TARGET_S,
            n=reps,
            note=(
                f"raw save->first action {raw:.3f} s (min {min(latencies):.3f}, "
                f"max {max(latencies):.3f}); {debounce_note}"
            ),
        )
    ]
