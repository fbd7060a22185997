"""Process-worker workloads, each beside its dispatch anchor measured in the same run.

Anchors (DESIGN.md section 10): a raw `multiprocessing.connection` pipe to a warm child
(the floor of any process dispatch) and `concurrent.futures.ProcessPoolExecutor` with two
warm workers. flyte figures are whole `flyte.run` calls on the durable SQLite store: every
action and attempt recorded, the store flushed, divided by the number of child tasks.

- fan-out: 1,000 trivial async tasks (as bench_engine's) on warm reused workers
  (ReusePolicy(replicas=2, concurrency=100)) vs. 1,000 messages pipelined to the warm
  child / submitted to the pool; the same with sync bodies (a thread per body) as info;
- round trip: 200 sequential calls of a trivial task on a warm reused worker vs. one
  message there and back / `submit().result()`;
- fresh isolated attempt: a task with `resources=` and no reuse, whole (fork from the
  zygote, connect, run, report, exit), vs. a `multiprocessing` fork-server process;
- OOM detection: a task growing toward its 100Mi limit stamps the time just before the
  allocation that crosses it, then sleeps; the figure is from that stamp to the attempt's
  recorded end (an upper bound: it includes that last allocation).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import os
import pickle
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from _harness import Row, median, time_call

import flyte

__all__ = ["workers"]

FANOUT_N = 1000
ROUND_N = 200
FRESH_N = 10

warm = flyte.TaskEnvironment(
    "bench_warm", reusable=flyte.ReusePolicy(replicas=2, concurrency=100, idle_ttl=300)
)
driver = flyte.TaskEnvironment("bench_driver")
fresh_env = flyte.TaskEnvironment("bench_fresh", resources=flyte.Resources(memory="1Gi"))
oom_env = flyte.TaskEnvironment("bench_oom", resources=flyte.Resources(memory="100Mi"))


@warm.task
async def wnoop(i: int) -> int:
    return i


@warm.task
def wnoop_sync(i: int) -> int:
    return i


@driver.task
async def warm_fanout(n: int) -> int:
    return len(await asyncio.gather(*(wnoop(i) for i in range(n))))


@driver.task
async def warm_chain(n: int) -> int:
    total = 0
    for i in range(n):
        total += await wnoop(i)
    return total


@driver.task
async def warm_fanout_sync(n: int) -> int:
    return len(await asyncio.gather(*(wnoop_sync.aio(i) for i in range(n))))


@driver.task
async def warm_chain_sync(n: int) -> int:
    total = 0
    for i in range(n):
        total += await wnoop_sync.aio(i)
    return total


@fresh_env.task
def fnoop(i: int) -> int:
    return i


@driver.task
async def fresh_chain(n: int) -> int:
    total = 0
    for i in range(n):
        total += await fnoop.aio(i)
    return total


@oom_env.task
def overflow(stamp: str) -> int:
    """Grow 4 MB at a time; stamp the clock just before the chunk that crosses 100Mi."""
    limit = 100 * 2**20
    page = os.sysconf("SC_PAGE_SIZE")
    chunks = []
    while True:
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * page
        if rss + 4 * 2**20 > limit:
            Path(stamp).write_text(repr(time.time()))
            chunk = bytearray(8 * 2**20)
            for i in range(0, len(chunk), page):
                chunk[i] = 1
            chunks.append(chunk)
            time.sleep(30)
            return len(chunks)
        chunk = bytearray(4 * 2**20)
        for i in range(0, len(chunk), page):
            chunk[i] = 1
        chunks.append(chunk)


# --- anchors ---------------------------------------------------------------------------------


def _noop(i: int) -> int:
    return i


def _echo_child(conn: Connection) -> None:
    while True:
        data = conn.recv_bytes()
        if not data:
            return
        _, i = pickle.loads(data)
        conn.send_bytes(pickle.dumps(_noop(i), 5))


def _pipe_anchor(reps: int) -> tuple[float, float]:
    """(µs per task fanned out, µs per sequential round trip) over a raw pipe."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_echo_child, args=(child,), daemon=True)
    proc.start()
    try:
        fan: list[float] = []
        rounds: list[float] = []
        for rep in range(reps + 1):

            def fanout() -> None:
                def send() -> None:
                    for i in range(FANOUT_N):
                        parent.send_bytes(pickle.dumps(("noop", i), 5))

                writer = threading.Thread(target=send)
                writer.start()
                for _ in range(FANOUT_N):
                    pickle.loads(parent.recv_bytes())
                writer.join()

            def round_trips() -> None:
                for i in range(ROUND_N):
                    parent.send_bytes(pickle.dumps(("noop", i), 5))
                    pickle.loads(parent.recv_bytes())

            t_fan, _ = time_call(fanout)
            t_round, _ = time_call(round_trips)
            if rep:
                fan.append(t_fan / FANOUT_N * 1e6)
                rounds.append(t_round / ROUND_N * 1e6)
        return median(fan), median(rounds)
    finally:
        parent.send_bytes(b"")
        proc.join(5)


def _pool_anchor(reps: int) -> tuple[float, float]:
    """(µs per task fanned out, µs per round trip) on a warm 2-worker ProcessPoolExecutor."""
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
        list(pool.map(_noop, range(100)))  # warm both workers
        fan: list[float] = []
        rounds: list[float] = []
        for rep in range(reps + 1):
            t_fan, _ = time_call(
                lambda: [f.result() for f in [pool.submit(_noop, i) for i in range(FANOUT_N)]]
            )
            t_round, _ = time_call(lambda: [pool.submit(_noop, i).result() for i in range(ROUND_N)])
            if rep:
                fan.append(t_fan / FANOUT_N * 1e6)
                rounds.append(t_round / ROUND_N * 1e6)
    return median(fan), median(rounds)


def _fresh_anchor(reps: int) -> float:
    """Seconds for one fresh fork-server process running a trivial function, whole."""
    ctx = multiprocessing.get_context("forkserver")
    times: list[float] = []
    for rep in range(reps + 1):

        def one() -> None:
            proc = ctx.Process(target=_noop, args=(1,))
            proc.start()
            proc.join()

        t, _ = time_call(one)
        if rep:
            times.append(t)
    return median(times)


# --- flyte -------------------------------------------------------------------------------------


def _timed_runs(task: Any, n: int, reps: int, expect: Any) -> float:
    times: list[float] = []
    for rep in range(reps + 1):
        t, run = time_call(lambda: flyte.with_runcontext(echo=False).run(task, n))
        if run.outputs()[0] != expect:
            raise AssertionError(f"{task.name} returned {run.outputs()[0]}, expected {expect}")
        if rep:
            times.append(t)
    return median(times)


def _oom_latency(reps: int, workdir: Path) -> float:
    latencies: list[float] = []
    for rep in range(reps + 1):
        stamp = workdir / f"oom-{rep}"
        run = flyte.with_runcontext(echo=False, raise_on_failure=False).run(overflow, str(stamp))
        (action,) = [a for a in run.actions() if a.name == "bench_oom.overflow"]
        if action.error_type != "OOMError" or not stamp.exists():
            raise AssertionError(f"expected an OOMError, got {action.error_type}")
        if rep:
            latencies.append((action.ended_at or 0) - float(stamp.read_text()))
    return median(latencies)


def workers(reps: int, workdir: Path) -> list[Row]:
    from flyte._store.sqlite import SqliteRunStore

    pipe_fan, pipe_round = _pipe_anchor(reps)
    pool_fan, pool_round = _pool_anchor(reps)
    fresh_anchor = _fresh_anchor(min(reps, 5))
    flyte.init(store=SqliteRunStore(workdir / "runs.db"))
    t_fan = _timed_runs(warm_fanout, FANOUT_N, reps, FANOUT_N)
    t_round = _timed_runs(warm_chain, ROUND_N, reps, sum(range(ROUND_N)))
    t_fan_sync = _timed_runs(warm_fanout_sync, FANOUT_N, reps, FANOUT_N)
    t_round_sync = _timed_runs(warm_chain_sync, ROUND_N, reps, sum(range(ROUND_N)))
    t_fresh = _timed_runs(fresh_chain, FRESH_N, min(reps, 5), sum(range(FRESH_N)))
    oom = _oom_latency(min(reps, 3), workdir)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        Row(
            name="workers_fanout",
            title="fan-out 1,000 async tasks, warm reused workers, SQLite",
            unit="µs/task",
            value=t_fan / FANOUT_N * 1e6,
            baseline=pipe_fan,
            baseline_label="raw pipe",
            target=2 * pipe_fan,
            n=reps,
            note=f"ProcessPoolExecutor {pool_fan:.0f} µs/task (must be slower than flyte); "
            f"target 2x the raw pipe measured now; {cpus} CPUs",
            extra={"pool": pool_fan},
        ),
        Row(
            name="workers_round_trip",
            title="sequential round trip, warm reused worker, SQLite",
            unit="µs/task",
            value=t_round / ROUND_N * 1e6,
            baseline=pipe_round,
            baseline_label="raw pipe",
            target=3 * pipe_round,
            n=reps,
            note=f"ProcessPoolExecutor {pool_round:.0f} µs per round trip; target 3x the raw pipe",
            extra={"pool": pool_round},
        ),
        Row(
            name="workers_sync_bodies",
            title="same two with sync bodies: fan-out / round trip",
            unit="µs/task",
            value=t_fan_sync / FANOUT_N * 1e6,
            baseline=pipe_fan,
            baseline_label="raw pipe",
            n=reps,
            note=f"sync-body fan-out {t_fan_sync / FANOUT_N * 1e6:.0f} µs/task, round trip "
            f"{t_round_sync / ROUND_N * 1e6:.0f} µs (a sync body runs on a worker thread)",
        ),
        Row(
            name="workers_fresh",
            title="fresh isolated worker attempt, whole",
            unit="ms",
            value=t_fresh / FRESH_N * 1e3,
            baseline=fresh_anchor * 1e3,
            baseline_label="forkserver Process",
            target=50.0,
            n=min(reps, 5),
        ),
        Row(
            name="workers_oom",
            title="OOM detected after crossing the limit",
            unit="ms",
            value=oom * 1e3,
            target=500.0,
            n=min(reps, 3),
            note="from a stamp taken just before the allocation that crosses 100Mi to the "
            "end recorded for the attempt (the monitor polls RSS every 20 ms)",
        ),
    ]
