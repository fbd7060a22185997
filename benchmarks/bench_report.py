"""Reports and durable time: what `report=True` and `flyte.durable.time()` cost per call.

`report_fanout`: 1,000 fanned-out tasks that each log one line to their report (stored in
the SQLite run store when the action ends), beside the same fan-out without reports (the
anchor: the engine alone). `durable_time`: 1,000 `flyte.durable.time()` checkpoints inside
one task, beside `time.time()` (each durable call is a recorded trace).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from _harness import Row, median, time_call

import flyte
import flyte.durable
import flyte.report

__all__ = ["durable_time", "report_fanout"]

N = 1000

env = flyte.TaskEnvironment("bench_report")


@env.task(report=True)
async def reported(i: int) -> int:
    flyte.report.log(f"<p>item {i}</p>")
    return i


@env.task
async def unreported(i: int) -> int:
    return i


@env.task
async def fanout(n: int, report: bool) -> int:
    child = reported if report else unreported
    return sum(await asyncio.gather(*(child(i) for i in range(n))))


@env.task
async def many_durable(n: int) -> float:
    return sum(flyte.durable.time() for _ in range(n))


def _run(task: object, *args: object) -> flyte.Run:
    return flyte.with_runcontext(echo=False).run(task, *args)  # type: ignore[arg-type]


def report_fanout(reps: int, workdir: Path) -> list[Row]:
    from flyte._store.sqlite import SqliteRunStore

    store = SqliteRunStore(workdir / "runs.db")
    flyte.init(store=store)
    _run(fanout, N, True)  # warm-up
    with_r, without = [], []
    for _ in range(reps):
        t, run = time_call(lambda: _run(fanout, N, True))
        t0, _ = time_call(lambda: _run(fanout, N, False))
        with_r.append(t)
        without.append(t0)
    if len(store.report_actions(run.name)) != N:
        raise AssertionError("not every action stored its report")
    return [
        Row(
            name="report_fanout",
            title="1,000 fanned-out tasks with report=True, one log each, SQLite store",
            unit="µs/task",
            value=median(with_r) / N * 1e6,
            baseline=median(without) / N * 1e6,
            baseline_label="same fan-out without reports",
            n=reps,
        )
    ]


def durable_time(reps: int, workdir: Path) -> list[Row]:
    from flyte._store.sqlite import SqliteRunStore

    flyte.init(store=SqliteRunStore(workdir / "durable.db"))
    _run(many_durable, N)
    flyte_t, plain_t = [], []
    for _ in range(reps):
        t, _ = time_call(lambda: _run(many_durable, N))
        tp, _ = time_call(lambda: sum(time.time() for _ in range(N)))
        flyte_t.append(t)
        plain_t.append(tp)
    return [
        Row(
            name="durable_time",
            title="1,000 flyte.durable.time() checkpoints in one task, SQLite store",
            unit="µs/call",
            value=median(flyte_t) / N * 1e6,
            baseline=median(plain_t) / N * 1e6,
            baseline_label="time.time()",
            n=reps,
            note="each call is a recorded trace that replays on retry and recover",
        )
    ]
