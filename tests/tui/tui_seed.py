"""Tasks run for real to seed the TUI tests' stores: success, failure, cache, traces, retries."""

from __future__ import annotations

import asyncio
import threading

import flyte

env = flyte.TaskEnvironment(
    "pipeline",
    resources=flyte.Resources(cpu=1, memory="1Gi"),
    env_vars={"STAGE": "test"},
)

gate = threading.Event()
"""Released by the live test to let `slow_step` tasks finish."""


@env.task(cache="auto")
async def square(x: int) -> int:
    """Cached, so a second run with overlapping inputs hits."""
    print(f"squaring {x}")
    return x * x


@flyte.trace
async def load(x: int) -> int:
    """A trace checkpoint: replayed on the retry of `flaky`."""
    print(f"loading {x}")
    return x + 100


@env.task(retries=2)
async def flaky(x: int) -> int:
    """Fails its first attempt after a trace; the retry replays the trace."""
    loaded = await load(x)
    ctx = flyte.ctx()
    if ctx is not None and ctx.attempt == 1:
        raise RuntimeError("transient failure")
    return loaded


@env.task
async def main(n: int = 3) -> list[int]:
    """A group of squares, then a flaky task."""
    with flyte.group("squares"):
        squares = await asyncio.gather(*(square(i) for i in range(n)))
    return [*squares, await flaky(n)]


@env.task
async def explode(x: int) -> int:
    """Always fails, with a traceback."""
    raise ValueError(f"cannot handle {x}")


@env.task
async def failing() -> int:
    """Fails because its child fails."""
    return await explode(7)


@env.task
def slow_step(i: int) -> int:
    """Waits for `gate`, so a test can watch a run in progress."""
    print(f"step {i} waiting")
    gate.wait(30)
    print(f"step {i} done")
    return i


@env.task
async def slow_fanout(n: int = 3) -> int:
    """Fans out `n` slow steps."""
    results = await asyncio.gather(*(slow_step(i) for i in range(n)))
    return sum(results)
