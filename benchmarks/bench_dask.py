"""The Dask executor beside raw Dask: 1,000 trivial tasks on one real LocalCluster.

Both sides use the same `LocalCluster(processes=True)` (two single-threaded worker
processes) in the same worker process, interleaved repetition by repetition. The anchor
is raw Dask: `Client.submit(..., pure=False)` of the same function 1,000 times and one
`Client.gather`. The flyte figure is a whole `flyte.run` of a root task that fans out
1,000 child tasks with `executor=<that Client>`: every body runs on a Dask worker, the
root's calls reach the driver over the worker channel, and every action is recorded in a
durable SQLite store. Target (DESIGN.md section 10): within 1.5x of raw Dask.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from _harness import Row, median, time_call

import flyte

__all__ = ["dask_fanout"]

N = 1000

env = flyte.TaskEnvironment("bench_dask")


def trivial(i: int) -> int:
    return i


@env.task
def noop(i: int) -> int:
    return trivial(i)


@env.task
async def fanout(n: int) -> int:
    results = await asyncio.gather(*(noop.aio(i) for i in range(n)))
    return len(results)


def raw_dask(client: Any, n: int) -> int:
    """The anchor: submit the same function n times without flyte, gather the results."""
    futures = [client.submit(trivial, i, pure=False) for i in range(n)]
    return len(client.gather(futures))


def dask_fanout(reps: int, workdir: Path) -> list[Row]:
    from distributed import Client, LocalCluster

    from flyte._store.sqlite import SqliteRunStore

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    client = Client(cluster, set_as_default=False)
    flyte.init(store=SqliteRunStore(workdir / "runs.db"), executor=client)
    flyte_times: list[float] = []
    raw_times: list[float] = []
    try:
        for rep in range(reps + 1):
            t_raw, got_raw = time_call(lambda: raw_dask(client, N))
            t_flyte, run = time_call(lambda: flyte.with_runcontext(echo=False).run(fanout, N))
            got = run.outputs()[0]
            if got != N or got_raw != N:
                raise AssertionError(f"fan-out returned {got} and {got_raw}, expected {N}")
            if rep:  # the first repetition warms the workers' imports and caches up
                flyte_times.append(t_flyte)
                raw_times.append(t_raw)
        workers = {a.placement.get("pid") for a in _attempts(run)} if run else set()
    finally:
        client.close()
        cluster.close()
    t_flyte, t_raw = median(flyte_times), median(raw_times)
    return [
        Row(
            name="dask_fanout",
            title="Dask executor, fan-out of 1,000 trivial tasks, SQLite store",
            unit="µs/task",
            value=t_flyte / N * 1e6,
            baseline=t_raw / N * 1e6,
            baseline_label="raw Client.submit/gather",
            target=1.5 * t_raw / N * 1e6,
            n=reps,
            note=f"whole run {t_flyte:.2f} s vs raw Dask {t_raw:.2f} s for {N} tasks; "
            f"target = 1.5x raw Dask; bodies ran in {len(workers)} worker processes",
        )
    ]


def _attempts(run: Any) -> list[Any]:
    return list(run.store.list_attempts(run.name))
