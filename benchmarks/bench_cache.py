"""Cache and recovery workloads: cache hits, cache-key computation, recovering a run.

All use the durable SQLite store of the workload's fresh FLYTE_HOME (the cache lives in the
run store and is shared by processes).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import linecache
import pickle
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _harness import BENCH_DIR, Row, median, time_call, write_script

import flyte
from flyte._models import CacheStatus, Phase

__all__ = ["cache_hits", "cache_key", "recovery"]

HITS_N = 1000
CACHE_HIT_US = 15.0
QUIET_PLAIN_US = 4.5
RECOVER_N = 1000

env = flyte.TaskEnvironment("bench_cache")


@env.task(cache="auto")
async def square(i: int) -> int:
    return i * i


@env.task
async def cached_fanout(n: int) -> int:
    results = await asyncio.gather(*(square(i) for i in range(n)))
    return sum(results)


# A module-level switch the recovery task reads: not an input, so the recovered run has the
# same action ids and input hashes as the failed one.
_FAIL_LAST = {"on": True}


@env.task
async def maybe_fail(i: int) -> int:
    if _FAIL_LAST["on"] and i == RECOVER_N - 1:
        raise ValueError(f"planned failure of task {i}")
    return i


@env.task
async def recover_fanout(n: int) -> int:
    results = await asyncio.gather(*(maybe_fail(i) for i in range(n)))
    return len(results)


def _store(workdir: Path) -> Any:
    return _store_at(workdir / "runs.db")


def _store_at(path: Path) -> Any:
    from flyte._store.sqlite import SqliteRunStore

    return SqliteRunStore(path)


def _run(task: Any, *args: Any, **options: Any) -> flyte.Run:
    return flyte.with_runcontext(echo=False, **options).run(task, *args)


# --- 1. cache hits -------------------------------------------------------------------------


_FILL_SCRIPT = """\
import sys
sys.path.insert(0, {bench_dir!r})
import flyte
import bench_cache
from flyte._store.sqlite import SqliteRunStore
flyte.init(store=SqliteRunStore({db!r}))
bench_cache._run(bench_cache.cached_fanout, {n})
"""


def _hit_runs(reps: int) -> tuple[float, float]:
    """Median seconds of a run of 1,000 hits (after one warm-up) and of its plain twin."""
    expect = sum(i * i for i in range(HITS_N))
    memo = {i: i * i for i in range(HITS_N)}

    async def plain_square(i: int) -> int:
        return memo[i]

    async def plain_cached_fanout(n: int) -> int:
        return sum(await asyncio.gather(*(plain_square(i) for i in range(n))))

    loop = asyncio.new_event_loop()
    hit_times: list[float] = []
    plain_times: list[float] = []
    run: flyte.Run | None = None
    try:
        for rep in range(reps + 1):
            t, run = time_call(lambda: _run(cached_fanout, HITS_N))
            t_plain, _ = time_call(lambda: loop.run_until_complete(plain_cached_fanout(HITS_N)))
            if run.outputs()[0] != expect:
                raise AssertionError("cached_fanout returned a wrong sum")
            if rep:
                hit_times.append(t)
                plain_times.append(t_plain)
    finally:
        loop.close()
    assert run is not None
    statuses = [a.cache_status for a in run.actions() if a.name == square.name]
    hits = sum(1 for s in statuses if s == CacheStatus.HIT)
    if hits != HITS_N:
        raise AssertionError(f"expected {HITS_N} cache hits, got {hits} of {len(statuses)}")
    return median(hit_times), median(plain_times)


def cache_hits(reps: int, workdir: Path) -> list[Row]:
    """1,000 distinct calls of a cached task fill the cache; later runs are all hits.

    Measured twice: with the cache filled by a run of this process (look-ups may be served
    from what this process wrote), and filled by another process (every look-up reads the
    SQLite store, as for a second `flyte run` or a watch-mode re-run).
    """
    # Filled by another process, into its own store file; this process's writer for that
    # file has written nothing, so each hit is a store read.
    shared_db = workdir / "runs-shared.db"
    fill = write_script(
        workdir,
        "fill_cache.py",
        _FILL_SCRIPT.format(bench_dir=str(BENCH_DIR), db=str(shared_db), n=HITS_N),
    )
    subprocess.run([sys.executable, str(fill)], check=True, cwd=workdir, capture_output=True)
    flyte.init(store=_store_at(shared_db))
    x_hit, x_plain = _hit_runs(reps)

    flyte.init(store=_store(workdir))
    t_fill, _ = time_call(lambda: _run(cached_fanout, HITS_N))
    hit, plain = _hit_runs(reps)
    # Issue 10: a hit <= 15 µs where plain asyncio takes 4.5 µs a task; as that multiple
    # of the plain baseline measured in the same run.
    per_plain = CACHE_HIT_US / QUIET_PLAIN_US
    return [
        Row(
            name="cache_hits",
            title="1,000 cache hits, filled by this process, SQLite store",
            unit="µs/hit",
            value=hit / HITS_N * 1e6,
            baseline=plain / HITS_N * 1e6,
            baseline_label="dict lookup",
            target=per_plain * plain / HITS_N * 1e6,
            n=reps,
            note=(
                f"whole hit run {hit * 1e3:.1f} ms; the filling run (1,000 misses + writes) "
                f"took {t_fill / HITS_N * 1e6:.0f} µs/call; upstream 531 µs/hit; target "
                f"{per_plain:.1f}x plain (issue 10: {CACHE_HIT_US:g} µs where plain asyncio "
                f"takes {QUIET_PLAIN_US:g})"
            ),
        ),
        Row(
            name="cache_hits_other_process",
            title="1,000 cache hits, filled by another process, SQLite store",
            unit="µs/hit",
            value=x_hit / HITS_N * 1e6,
            baseline=x_plain / HITS_N * 1e6,
            baseline_label="dict lookup",
            target=per_plain * x_plain / HITS_N * 1e6,
            n=reps,
            note=f"whole hit run {x_hit * 1e3:.1f} ms; every look-up reads runs.db",
        ),
    ]


# --- 2. cache key computation --------------------------------------------------------------

_HELPERS_MODULE = '''\
"""A task that reaches 10 helper functions (written by the benchmark)."""
import flyte

env = flyte.TaskEnvironment("keys")

SCALE = 3

{helpers}

@env.task(cache="auto")
def compute(x: int, name: str, values: list[int]) -> int:
    """Reaches all ten helpers."""
    total = 0
{calls}
    return total + len(name) + sum(values)
'''

_HELPER = '''
def helper_{i}(x: int) -> int:
    """Helper number {i}."""
    y = x * SCALE + {i}
    if y % 2:
        y -= 1
    return y // 2
'''


def _write_helpers_module(workdir: Path) -> Any:
    helpers = "".join(_HELPER.format(i=i) for i in range(10))
    calls = "".join(f"    total += helper_{i}(x)\n" for i in range(10))
    src = workdir / "keysrc"
    write_script(src, "bench_keys_mod.py", _HELPERS_MODULE.format(helpers=helpers, calls=calls))
    sys.path.insert(0, str(src))
    return importlib.import_module("bench_keys_mod")


def _plain_code_hash(module: Any) -> str:
    """The same work done by hand: parse each function's source, hash its AST dump."""
    import ast
    import inspect

    linecache.clearcache()
    digest = hashlib.blake2b(digest_size=16)
    for fn in [module.compute.func, *(getattr(module, f"helper_{i}") for i in range(10))]:
        tree = ast.parse(inspect.getsource(fn))
        digest.update(ast.dump(tree).encode())
    return digest.hexdigest()


def _per_call(fn: Any, loops: int) -> float:
    start = time.perf_counter()
    for _ in range(loops):
        fn()
    return (time.perf_counter() - start) / loops


def cache_key(reps: int, workdir: Path) -> list[Row]:
    """`code_version` cold and warm, and `compute_key`, for a task reaching 10 helpers."""
    from flyte._cachekey import compute_key
    from flyte._codeversion import clear_code_version_cache, code_version

    module = _write_helpers_module(workdir)
    task = module.compute
    inputs = {"x": 7, "name": "benchmark", "values": list(range(20))}
    parts = code_version(task.func).parts
    reached = sorted(k for k in parts if "helper_" in k)
    if len(reached) != 10:
        raise AssertionError(f"code version reaches {reached}, expected 10 helpers")

    def key() -> Any:
        return compute_key(
            task_name=task.name,
            interface=task.interface_digest,
            func=task.func,
            cache=task.cache,
            inputs=inputs,
        )

    def cold() -> None:
        clear_code_version_cache()
        code_version(task.func)

    def plain_key() -> str:
        blob = pickle.dumps((task.name, sorted(inputs.items())), protocol=5)
        return hashlib.blake2b(blob, digest_size=16).hexdigest()

    memo = {id(task.func): parts}
    fid = id(task.func)
    cold_t, plain_cold_t, warm_t, plain_warm_t, key_t, plain_key_t = ([] for _ in range(6))
    for _ in range(reps):
        cold_t.append(time_call(cold)[0])
        plain_cold_t.append(time_call(lambda: _plain_code_hash(module))[0])
        code_version(task.func)
        warm_t.append(_per_call(lambda: code_version(task.func), 2000))
        plain_warm_t.append(_per_call(lambda: memo.get(fid), 2000))
        key_t.append(_per_call(key, 500))
        plain_key_t.append(_per_call(plain_key, 500))
    us = 1e6
    return [
        Row(
            name="cache_key_cold",
            title="code version, task + 10 helpers, cold",
            unit="µs",
            value=median(cold_t) * us,
            baseline=median(plain_cold_t) * us,
            baseline_label="getsource+ast",
            n=reps,
            note=f"{len(parts)} parts; cold = after clear_code_version_cache() (also clears linecache)",
        ),
        Row(
            name="cache_key_warm",
            title="code version, task + 10 helpers, warm (memoized)",
            unit="µs",
            value=median(warm_t) * us,
            baseline=median(plain_warm_t) * us,
            baseline_label="dict lookup",
            n=reps,
        ),
        Row(
            name="cache_key_compute",
            title="compute_key (3 inputs, warm code version)",
            unit="µs",
            value=median(key_t) * us,
            baseline=median(plain_key_t) * us,
            baseline_label="pickle+blake2b",
            n=reps,
        ),
    ]


# --- 3. recovery ---------------------------------------------------------------------------


def recovery(reps: int, workdir: Path) -> list[Row]:
    """Recover a 1,000-action run whose last task failed: 999 reused, 1 executed."""
    flyte.init(store=_store(workdir))
    loop = asyncio.new_event_loop()

    async def plain_noop(i: int) -> int:
        return i

    async def plain_fanout(n: int) -> int:
        return len(await asyncio.gather(*(plain_noop(i) for i in range(n))))

    recover_t: list[float] = []
    fresh_t: list[float] = []
    plain_t: list[float] = []
    recovered = executed = 0
    run: flyte.Run | None = None
    try:
        for rep in range(reps + 1):
            _FAIL_LAST["on"] = True
            failed = _run(recover_fanout, RECOVER_N, raise_on_failure=False)
            if failed.phase is not Phase.FAILED:
                raise AssertionError(f"the failing run ended {failed.phase}")
            _FAIL_LAST["on"] = False
            t, run = time_call(
                lambda old=failed.name: _run(recover_fanout, RECOVER_N, recover_from=old)
            )
            if run.outputs()[0] != RECOVER_N:
                raise AssertionError("the recovered run returned a wrong count")
            t_fresh, _ = time_call(lambda: _run(recover_fanout, RECOVER_N))
            t_plain, _ = time_call(lambda: loop.run_until_complete(plain_fanout(RECOVER_N)))
            if rep:
                recover_t.append(t)
                fresh_t.append(t_fresh)
                plain_t.append(t_plain)
        assert run is not None
        children = [a for a in run.actions() if a.name == maybe_fail.name]
        recovered = sum(1 for a in children if a.recovered)
        executed = len(children) - recovered
    finally:
        loop.close()
    if recovered != RECOVER_N - 1:
        raise AssertionError(f"expected {RECOVER_N - 1} recovered actions, got {recovered}")
    return [
        Row(
            name="recovery",
            title="recover a 1,000-action run (999 reused, 1 re-run)",
            unit="µs/action",
            value=median(recover_t) / RECOVER_N * 1e6,
            baseline=median(plain_t) / RECOVER_N * 1e6,
            n=reps,
            note=(
                f"whole recovery run {median(recover_t) * 1e3:.1f} ms ({recovered} recovered, "
                f"{executed} executed); the same fan-out run fresh: "
                f"{median(fresh_t) / RECOVER_N * 1e6:.0f} µs/action"
            ),
        )
    ]
