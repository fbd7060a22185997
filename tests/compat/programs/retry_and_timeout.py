# upstream: flyteorg/flyte-sdk examples/basics/retry_and_timeout.py (RetryStrategy+Backoff, NonRecoverableError, Timeout)
# changes: long module docstring/comments condensed to keep the file short; __main__ prints outputs.
"""
Meant to be run locally (flyte.init()). flaky_call fails twice then succeeds (backoff 1s, 2s, capped 3s);
hopeless raises NonRecoverableError and stops on attempt #1 despite retries=3; bounded_work declares all three
timeout bounds (recorded locally, enforced only on a cluster).
"""

import asyncio
from datetime import timedelta

import flyte
import flyte.errors

env = flyte.TaskEnvironment(name="retry_and_timeout", resources=flyte.Resources(cpu=1, memory="250Mi"))

# LOCAL-ONLY: module-level counter persists across retries because the local controller runs every
# retry in the same Python process. Will NOT work on a remote cluster (fresh pod per attempt).
_attempts = 0


@env.task(
    retries=flyte.RetryStrategy(
        count=4,
        backoff=flyte.Backoff(
            base=timedelta(seconds=1),
            factor=2.0,
            cap=timedelta(seconds=3),
        ),
    ),
)
async def flaky_call() -> str:
    """Fails twice, then succeeds. Retried with exponential backoff."""
    global _attempts
    _attempts += 1
    if _attempts < 3:
        raise RuntimeError(f"transient failure on attempt {_attempts}")
    return f"ok after {_attempts} attempts"


@env.task(retries=3)
async def hopeless(x: int) -> int:
    """``retries=3`` is declared but ``NonRecoverableError`` short-circuits it."""
    raise flyte.errors.NonRecoverableError(f"input {x} can never succeed")


@env.task(
    timeout=flyte.Timeout(
        max_runtime=timedelta(minutes=10),
        max_queued_time=timedelta(minutes=5),
        deadline=timedelta(minutes=30),
    ),
)
async def bounded_work() -> str:
    """All three timeout bounds are declared. Locally this just runs to completion."""
    await asyncio.sleep(0.1)
    return "done"


@env.task
async def main() -> str:
    # Eventually succeeds thanks to retry+backoff.
    result = await flaky_call()

    # Demonstrates non-recoverable error short-circuiting retries.
    try:
        await hopeless(x=-1)
    except flyte.errors.RuntimeUserError as e:
        print(f"hopeless surfaced as: {e.code}")
    bounded = await bounded_work()
    return f"{result} / {bounded}"


if __name__ == "__main__":
    flyte.init()
    run = flyte.run(main)
    print(run.url)
    print(run.outputs())  # expected "ok after 3 attempts / done"
