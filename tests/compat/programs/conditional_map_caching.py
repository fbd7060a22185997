# upstream: flyteorg/flyte-sdk examples/caching/conditional_map_caching.py (Cache(behavior="auto"), override(cache="disable"))
# changes: docstrings/comments removed, scenario validation dropped; __main__ uses flyte.init(), prints outputs.
# /// script
# requires-python = ">=3.12"
# dependencies = [
#    "flyte",
# ]
# ///
import asyncio
import sys

import flyte
from flyte import Cache

env = flyte.TaskEnvironment(
    "conditional-cache",
    image=flyte.Image.from_uv_script(__file__, name="conditional-cache"),
)


@env.task(cache=Cache(behavior="auto"))
async def child_task(x: int) -> int:
    if x < 0:
        raise RuntimeError(f"Transient failure processing item {x}")
    return x * x


@env.task(cache=Cache(behavior="auto"))
async def parent_task(items: list[int], tolerate_failures: bool = False) -> list[int | None]:
    with flyte.group("child-fanout"):
        raw = await asyncio.gather(*(child_task(x) for x in items), return_exceptions=True)

    results: list[int | None] = []
    failures = 0
    for r in raw:
        if isinstance(r, BaseException):
            failures += 1
            results.append(None)
        else:
            results.append(r)

    if failures > 0 and not tolerate_failures:
        raise RuntimeError(f"{failures}/{len(items)} child tasks failed")

    return results


@env.task
async def downstream_task(results: list[int | None]) -> str:
    succeeded = [r for r in results if r is not None]
    return f"Received {len(succeeded)}/{len(results)} results. Sum = {sum(succeeded)}"


@env.task
async def pipeline(items: list[int]) -> str:
    try:
        results = await parent_task(items=items)
    except Exception as e:
        print(f"Cached parent failed ({e}), retrying with failure tolerance...")
        results = await parent_task.override(cache="disable")(items=items, tolerate_failures=True)

    return await downstream_task(results=results)


SCENARIOS = {
    "all-succeed": list(range(20)),
    "partial-fail": [0, 1, 2, -3, 4, 5, -6, 7, 8, 9],
    "rerun-after-fix": list(range(10)),
}

if __name__ == "__main__":
    scenario = sys.argv[1] if len(sys.argv) > 1 else "all-succeed"
    items = SCENARIOS[scenario]
    print(f"Scenario: {scenario}, Items: {items}")

    flyte.init()  # upstream: flyte.init_from_config()
    run = flyte.run(pipeline, items)
    print(run.url)
    print(run.outputs())  # all-succeed: "Received 20/20 results. Sum = 2470"
