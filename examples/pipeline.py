# /// script
# requires-python = ">=3.10"
# dependencies = ["flyte-local"]
# ///
"""A cached pipeline: load -> transform -> summarize, where `transform` uses a helper.

Every task caches (`cache="auto"`), so a second run hits the cache. Edit `scale` (the
helper) and only `transform` and `summarize` run again: the cache key includes the code
of the user functions a task reaches. This is the example for `flyte run --watch`.

How to run:
    flyte run examples/pipeline.py main --n 10
    flyte run examples/pipeline.py main --n 10          # again: cache hits
    flyte run --watch examples/pipeline.py main --n 10  # re-runs on every save
    python examples/pipeline.py
"""

from __future__ import annotations

import flyte

env = flyte.TaskEnvironment("pipeline", cache="auto")


def scale(value: float, factor: float) -> float:
    """The helper `transform` calls; editing it invalidates `transform`'s cache."""
    return round(value * factor, 3)


@env.task
async def load(n: int) -> list[float]:
    """Make `n` numbers."""
    print(f"loading {n} values")
    return [float(i) for i in range(n)]


@env.task
async def transform(values: list[float], factor: float) -> list[float]:
    """Scale every value with the `scale` helper."""
    return [scale(v, factor) for v in values]


@env.task
async def summarize(values: list[float]) -> dict[str, float]:
    """Count, total and mean of the values."""
    total = sum(values)
    return {"count": len(values), "total": total, "mean": total / len(values) if values else 0.0}


@env.task(cache="disable")
async def main(n: int = 10, factor: float = 1.5) -> dict[str, float]:
    """Load `n` values, scale them by `factor` and summarize them."""
    values = await load(n)
    scaled = await transform(values, factor)
    return await summarize(scaled)


if __name__ == "__main__":
    print(flyte.run(main, n=10).outputs()[0])
