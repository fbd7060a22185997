"""Shared helpers of the benchmark suite: result rows, timing, subprocesses, formatting.

Every workload returns `Row`s: the flyte figure, the plain-Python baseline measured in the
same process run, the target and the verdict. Figures are medians of `n` repetitions.
"""

from __future__ import annotations

import gc
import os
import statistics
import subprocess
import sys
import tempfile
import threading
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


def spawn_timed(
    cmd: Sequence[str],
    *,
    env: dict[str, str],
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 60.0,
) -> tuple[float, float, str]:
    """Run `cmd`; return (seconds from spawn to exit, the child's peak RSS in MiB, stdout).

    The child is reaped with `os.wait4`, so the RSS is its own `ru_maxrss`. Output goes to
    temporary files, not pipes, so nothing but the child itself is being timed.

    Raises:
        RuntimeError: the command failed or timed out.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(cmd), env=env, cwd=cwd, stdout=out, stderr=err)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _, status, rusage = os.wait4(proc.pid, 0)
            elapsed = time.perf_counter() - start
        finally:
            killer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        stdout = out.read().decode(errors="replace")
        if proc.returncode != 0:
            err.seek(0)
            stderr = err.read().decode(errors="replace")
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{stderr[-3000:]}")
    return elapsed, float(rusage.ru_maxrss) / 1024.0, stdout


def flyte_executable() -> Path:
    """The `flyte` console script of the interpreter running the suite."""
    return Path(sys.executable).with_name("flyte")


def write_script(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    return path
