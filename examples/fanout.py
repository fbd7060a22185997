# /// script
# requires-python = ">=3.10"
# dependencies = ["flyte-local"]
# ///
"""Fan-out three ways: asyncio.gather, flyte.map with a concurrency limit, and groups.

Async tasks fan out with plain `asyncio.gather`; sync tasks with `flyte.map` (parallel,
in input order, at most `concurrency` at once); `flyte.group` names a part of the tree.
A failing item is caught with plain `try/except`, and retried with more resources.

How to run:
    flyte run examples/fanout.py main --n 20
    python examples/fanout.py
"""

from __future__ import annotations

import asyncio
import os

import flyte

env = flyte.TaskEnvironment("fanout", resources=flyte.Resources(cpu=1, memory="256Mi"))


@env.task
async def square(x: int) -> int:
    """An async task: many run concurrently on the engine's event loop."""
    await asyncio.sleep(0.01)
    return x * x


@env.task
def cube(x: int) -> int:
    """A sync task: runs in the engine's thread pool."""
    return x * x * x


@env.task
def picky(x: int) -> int:
    """Fails above PICKY_LIMIT: stands in for a task that needs more memory."""
    limit = int(os.environ.get("PICKY_LIMIT", "2"))
    if x > limit:
        raise MemoryError(f"{x} is over the limit of {limit}")
    return x


@env.task
async def main(n: int = 10) -> dict[str, int]:
    """Squares by gather, cubes by map, and one retry with bigger resources."""
    with flyte.group("squares"):
        squares = await asyncio.gather(*(square(i) for i in range(n)))
    cubes = [c async for c in flyte.map.aio(cube, range(n), concurrency=4)]
    try:
        extra = await picky(3)
    except MemoryError:  # the child's own exception type reaches the parent
        bigger = picky.override(
            resources=flyte.Resources(cpu=1, memory="1Gi"), env_vars={"PICKY_LIMIT": "10"}
        )
        extra = await bigger.aio(3)
    return {"squares": sum(squares), "cubes": sum(cubes), "extra": extra}


if __name__ == "__main__":
    run = flyte.run(main, n=10)
    print(run.name, run.outputs()[0])
