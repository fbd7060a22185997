"""Shared helpers of the benchmark suite: result rows, timing, subprocesses, formatting.

Every workload returns `Row`s: the flyte figure, the plain-Python baseline measured in the
same process run, the target and the verdict. Figures are medians of `n` repetitions.
"""

from __future__ import annotations

import gc
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = [
    "BENCH_DIR",
    "REPO",
    "Row",
    "clean_env",
    "flyte_executable",
    "median",
    "spawn_timed",
    "time_call",
    "write_script",
]

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent


@dataclass
class Row:
    """One line of the results table.

    `value` and `baseline` are in `unit` (e.g. "µs/task", "s"); `target` too. A row without
    a target is informational; a skipped row carries the reason in `note`.
    """

    name: str
    title: str
    unit: str
    value: float | None = None
    baseline: float | None = None
    baseline_label: str = "plain Python"
    target: float | None = None
    n: int = 0
    rss_mib: float | None = None
    rss_target_mib: float | None = None
    baseline_rss_mib: float | None = None
    skipped: bool = False
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline

    @property
    def status(self) -> str:
        if self.skipped:
            return "SKIP"
        if self.value is None:
            return "ERROR"
        if self.target is None and self.rss_target_mib is None:
            return "info"
        ok = self.target is None or self.value <= self.target
        if self.rss_target_mib is not None and self.rss_mib is not None:
            ok = ok and self.rss_mib <= self.rss_target_mib
        return "PASS" if ok else "MISS"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Row:
        return cls(**data)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def time_call(fn: Callable[[], T]) -> tuple[float, T]:
    """Seconds `fn()` takes (by `time.perf_counter`, after a garbage collection), and its value."""
    gc.collect()
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def clean_env(**overrides: str) -> dict[str, str]:
    """The current environment without FLYTE_* variables, plus `overrides`.

    `PYTHONDONTWRITEBYTECODE` is dropped: with it, every source file newer than its stale
    `.pyc` is recompiled on each start, which is not what users see. `run_all.py` points
    `PYTHONPYCACHEPREFIX` at a temp dir instead, so no bytecode is written into the repo.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FLYTE_", "_FLYTE_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(overrides)
    return env


# Spawns the measured command and reports its time and peak RSS. A child's `ru_maxrss`
# starts at its parent's resident size at fork (Linux carries the forking process's
# high-water mark across exec), so a command forked straight from the suite, which holds
# tens or hundreds of MiB after building a store, reported the suite's peak, not its own.
# This small interpreter (`-I -S`: ~10 MiB) forks it instead; the figure is the command's.
_TRAMPOLINE = """
import os, sys, time
result, cmd = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.posix_spawnp(cmd[0], cmd, os.environ)
_, status, usage = os.wait4(pid, 0)
elapsed = time.perf_counter() - start
with open(result, "w") as out:
    out.write(f"{elapsed!r} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


def spawn_timed(
    cmd: Sequence[str],
    *,
    env: dict[str, str],
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 60.0,
) -> tuple[float, float, str]:
    """Run `cmd`; return (seconds from spawn to exit, the child's peak RSS in MiB, stdout).

    A small trampoline interpreter spawns the command and reaps it with `os.wait4`, so the
    time excludes the trampoline's start and the RSS is the command's own `ru_maxrss`
    (not inflated by this process's size; see `_TRAMPOLINE`). Output goes to temporary
    files, not pipes, so nothing but the child itself is being timed.

    Raises:
        RuntimeError: the command failed or timed out.
    """
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryDirectory() as tmp,
    ):
        result = Path(tmp) / "result"
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _TRAMPOLINE, str(result), *cmd],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=err,
            start_new_session=True,  # a timeout kills the command with its trampoline
        )
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise RuntimeError(f"{' '.join(cmd)} timed out after {timeout:.0f} s") from None
        err.seek(0)
        stderr = err.read().decode(errors="replace")
        if proc.returncode != 0 or not result.exists():
            raise RuntimeError(f"the trampoline of {' '.join(cmd)} failed:\n{stderr[-3000:]}")
        elapsed_text, maxrss, code = result.read_text().split()
        out.seek(0)
        stdout = out.read().decode(errors="replace")
        if int(code) != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {code}:\n{stderr[-3000:]}")
    return float(elapsed_text), float(maxrss) / 1024.0, stdout


def flyte_executable() -> Path:
    """The `flyte` console script of the interpreter running the suite."""
    return Path(sys.executable).with_name("flyte")


def write_script(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    return path
