# The seed's "Pure Python execution" program, Async Python tab (seed/flyte2-overview.md),
# with its missing `import asyncio` added and run.outputs() printed.
# Expected: ('Done',) and 11 actions.
# ruff: noqa: B007  (the seed writes `for i in range(10)`; kept verbatim)
import asyncio

import flyte

env = flyte.TaskEnvironment("hello_world")


@env.task
async def hello_world(name: str) -> str:
    return f"Hello, {name}!"


@env.task
async def main(name: str) -> str:
    results = []
    for i in range(10):
        results.append(hello_world(name))
    await asyncio.gather(*results)
    return "Done"


if __name__ == "__main__":
    flyte.init()
    run = flyte.run(main, name="World")
    print(run.outputs())
