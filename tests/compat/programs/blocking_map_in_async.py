# flyte-local compat: the blocking flyte.map(...) inside an async task, as upstream's
# examples/queues/*.py call it (in process and in worker processes), next to awaited calls
import asyncio
from functools import partial

import flyte

env = flyte.TaskEnvironment(name="blocking_map_compat")
workers = flyte.TaskEnvironment(
    name="blocking_map_workers", resources=flyte.Resources(memory="200Mi")
)


@env.task(queue="serial-1")
async def step(i: int, sleep_seconds: float) -> str:
    await asyncio.sleep(sleep_seconds)
    return f"step {i} done"


@env.task
def square(x: int) -> int:
    return x * x


@flyte.trace
async def total(values: list[int]) -> int:
    return sum(values)


def squares(n: int) -> list[int]:
    # A helper the task calls: its blocking flyte.map counts as the task's own.
    return list(flyte.map(square, range(n)))


@env.task
async def fan_out(count: int, sleep_seconds: float) -> list[str]:
    with flyte.group("steps"):
        steps = list(flyte.map(partial(step, sleep_seconds=sleep_seconds), list(range(count))))
    first = await step(count, 0)
    handle = square(4)  # a sync task from async code: a handle, awaited below
    async_squares = [x async for x in flyte.map.aio(square, range(3))]
    return [*steps, first, str(await handle), str(await total(squares(4) + async_squares))]


@workers.task
async def in_worker(count: int = 3) -> list[str]:
    return list(flyte.map(partial(step, sleep_seconds=0.1), list(range(count))))


@env.task
async def main(count: int = 4, sleep_seconds: float = 0.2) -> str:
    here = await fan_out(count, sleep_seconds)
    there = await in_worker(3)
    return " / ".join(here + there)


if __name__ == "__main__":
    flyte.init_from_config()
    run = flyte.run(main, count=4, sleep_seconds=0.2)
    print(run.name)
    run.wait()
    print(run.outputs())
