# /// script
# requires-python = ">=3.10"
# dependencies = ["flyte-local"]
# ///
"""A slow fan-out: `workers` tasks each print `steps` lines, sleeping `delay` s between.

With the defaults it takes about 12 s: long enough to watch the live tree, follow the
logs from another terminal and abort it.

How to run:
    flyte run examples/slow.py main                         # about 12 s
    flyte logs <run> --follow                               # in another terminal
    flyte abort <run>                                       # in another terminal
    flyte run examples/slow.py main --steps 2 --delay 0.01  # quick
    python examples/slow.py
"""

from __future__ import annotations

import asyncio

import flyte

env = flyte.TaskEnvironment("slow")


@env.task
async def work(worker: int, steps: int, delay: float) -> int:
    """Print `steps` progress lines, sleeping `delay` seconds after each."""
    for step in range(1, steps + 1):
        print(f"worker {worker}: step {step}/{steps}")
        await asyncio.sleep(delay)
    return worker * steps


@env.task
async def main(workers: int = 4, steps: int = 24, delay: float = 0.5) -> int:
    """Fan out `workers` slow tasks and add up what they return."""
    print(f"starting {workers} workers")
    results = await asyncio.gather(*(work(i, steps, delay) for i in range(1, workers + 1)))
    print("all workers done")
    return sum(results)


if __name__ == "__main__":
    print(flyte.run(main, steps=4, delay=0.1).outputs()[0])
