"""Tasks for the max_queued_time tests: a module a worker process can import."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import flyte
from flyte.errors import TaskTimeoutError

CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
plain = flyte.TaskEnvironment("queue_plain")
# Every CPU of the machine: while one runs, the next one waits in the queue.
whole = flyte.TaskEnvironment("queue_whole", resources=flyte.Resources(cpu=CPUS))
# One warm worker running one attempt at a time: the next attempt waits for it.
one_worker = flyte.TaskEnvironment(
    "queue_one_worker", reusable=flyte.ReusePolicy(replicas=1, concurrency=1, idle_ttl=5)
)


@whole.task
def hold_machine(folder: str) -> str:
    Path(folder, "holding").touch()
    for _ in range(3000):  # until the test releases it (bounded)
        if Path(folder, "release").exists():
            return "held"
        time.sleep(0.01)
    return "never released"


@whole.task(timeout=flyte.Timeout(max_queued_time=0.3), retries=1)
def must_start_soon() -> str:
    return "started"


@whole.task(timeout=flyte.Timeout(max_queued_time=60))
def may_wait() -> str:
    return "started"


@plain.task
async def hog_then_queue(folder: str, patient: bool = False) -> list[str]:
    held = asyncio.ensure_future(hold_machine.aio(folder))
    for _ in range(3000):
        if Path(folder, "holding").exists():
            break
        await asyncio.sleep(0.01)
    if patient:  # the test releases the machine once it saw may_wait QUEUED
        waiting = asyncio.ensure_future(may_wait.aio())
        return [await held, await waiting]
    try:
        outcome = await must_start_soon.aio()
    except TaskTimeoutError as exc:
        outcome = f"{type(exc).__name__}: {exc}"
    Path(folder, "release").touch()
    return [await held, outcome]


@one_worker.task
def hold_worker(folder: str) -> str:
    return hold_machine.forward(folder)


@one_worker.task(timeout=flyte.Timeout(max_queued_time=0.3))
def needs_the_worker() -> str:
    return "started"


@plain.task
async def hog_the_worker(folder: str) -> list[str]:
    held = asyncio.ensure_future(hold_worker.aio(folder))
    for _ in range(3000):
        if Path(folder, "holding").exists():
            break
        await asyncio.sleep(0.01)
    try:
        outcome = await needs_the_worker.aio()
    except TaskTimeoutError as exc:
        outcome = f"{type(exc).__name__}: {exc}"
    Path(folder, "release").touch()
    return [await held, outcome]
