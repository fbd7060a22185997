"""Durable time: `sleep`, `time` and `now` that replay instead of drifting.

Each is a `@flyte.trace` checkpoint inside a task: on a retry of the action, or in a run
recovered from an interrupted one, `time()` and `now()` return the value recorded the
first time, and `sleep(s)` only sleeps what is left of `s` since it first started.
Outside a task they behave like `time.time`, `datetime.now` and `time.sleep`.

Example:
    @env.task
    async def remind() -> str:
        await flyte.durable.sleep.aio(3600)   # one hour in total, across crashes
        return flyte.durable.now().isoformat()
"""

from flyte.durable._time import now, sleep, time

__all__ = ["now", "sleep", "time"]
