"""Task programs the remote tests ship to the server (imported from this folder).

Gated tasks wait for a file to appear (polling, with a deadline) instead of sleeping a
fixed time, so tests decide exactly when a run may go on.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import flyte

env = flyte.TaskEnvironment("remote_progs")


async def _wait_for(path: str, deadline: float = 60.0) -> None:
    end = time.monotonic() + deadline
    while not Path(path).exists():
        if time.monotonic() > end:
            raise TimeoutError(f"gate {path} never opened")
        await asyncio.sleep(0.02)


def _mark(folder: str, name: str) -> None:
    """Record one execution of `name` (a file per execution) for the tests to count."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / f"{name}.{os.getpid()}.{time.time_ns()}").touch()


@env.task
async def printer(lines: int, gate: str) -> int:
    """Prints `lines` lines, waiting for `gate` halfway."""
    for i in range(lines // 2):
        print(f"line {i:03d}")
    await _wait_for(gate)
    for i in range(lines // 2, lines):
        print(f"line {i:03d}")
    return lines


@env.task
async def step(i: int, marks: str, gate: str) -> int:
    """A step that records its execution; odd steps wait for `gate`."""
    _mark(marks, f"step{i}")
    if i % 2:
        await _wait_for(gate)
    return i * 10


@env.task
async def pipeline(n: int, marks: str, gate: str) -> int:
    """Fans out `n` steps; the odd ones wait for `gate`."""
    return sum(await asyncio.gather(*(step(i, marks, gate) for i in range(n))))


@env.task(cache="auto")
async def cached_square(x: int) -> int:
    print(f"squaring {x}")
    return x * x


@env.task
async def cached_main(x: int) -> int:
    return await cached_square(x) + 1


@env.task
async def executor_env() -> str:
    """The executor the driving process was configured with (FLYTE_EXECUTOR)."""
    return os.environ.get("FLYTE_EXECUTOR", "")


@env.task(report=True)
async def reporting(n: int) -> int:
    """Logs an HTML report (`flyte get report` fetches it from the server)."""
    import flyte.report

    flyte.report.log(f"<h1>squares up to {n}</h1>")
    flyte.report.get_tab("table").log(
        "<table>" + "".join(f"<tr><td>{i * i}</td></tr>" for i in range(n)) + "</table>"
    )
    return n
