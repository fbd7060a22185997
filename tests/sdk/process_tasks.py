"""Tasks the process-worker tests run: a small module a worker imports (not the test file).

A worker imports the module of a task it runs (module-level state is then per worker, as
on a cluster), so these live apart from the test module, which imports pytest.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from pathlib import Path

import flyte

plain = flyte.TaskEnvironment("plain")
worker_env = flyte.TaskEnvironment("worker_env", resources=flyte.Resources(cpu=1, memory="1Gi"))
env_a = flyte.TaskEnvironment(
    "env_a", resources=flyte.Resources(memory="1Gi"), env_vars={"SHARED_VAR": "from-a"}
)
env_b = flyte.TaskEnvironment(
    "env_b", resources=flyte.Resources(memory="1Gi"), env_vars={"SHARED_VAR": "from-b"}
)
reused = flyte.TaskEnvironment(
    "reused", reusable=flyte.ReusePolicy(replicas=2, idle_ttl=1, concurrency=1)
)
cpu_env = flyte.TaskEnvironment("cpu_env", resources=flyte.Resources(cpu=1))
small = flyte.TaskEnvironment("small", resources=flyte.Resources(memory="200Mi"))

# Module-level state: in a warm worker it survives from one call to the next.
CALLS = {"n": 0}


@plain.task
def where() -> int:
    return os.getpid()


@worker_env.task
def square_in_worker(x: int) -> tuple[int, int]:
    print(f"worker says {x}")
    return x * x, os.getpid()


@worker_env.task
async def async_in_worker(x: int) -> int:
    await asyncio.sleep(0)
    return x + 1


@env_a.task
def read_a() -> str | None:
    return os.environ.get("SHARED_VAR")


@env_b.task
def read_b() -> str | None:
    return os.environ.get("SHARED_VAR")


@plain.task
async def read_both() -> list[str | None]:
    return list(await asyncio.gather(read_a.aio(), read_b.aio()))


@reused.task
def count_calls(i: int) -> tuple[int, int]:
    CALLS["n"] += 1
    return os.getpid(), CALLS["n"]


@reused.task
def warm_flavour() -> str:
    """This warm worker's pid and the run's RUN_FLAVOUR, as "pid:flavour"."""
    return f"{os.getpid()}:{os.environ.get('RUN_FLAVOUR')}"


busy = flyte.TaskEnvironment(
    "busy", reusable=flyte.ReusePolicy(replicas=1, idle_ttl=5, concurrency=16)
)


@busy.task
def overlapping(i: int) -> int:
    """A sync body that overlaps its siblings in one warm worker (their dones batch)."""
    print(f"overlapping {i}")
    time.sleep(0.005 * (i % 4))
    return i * i


@plain.task
async def fan_overlapping(n: int) -> list[int]:
    return list(await asyncio.gather(*(overlapping.aio(i) for i in range(n))))


cold = flyte.TaskEnvironment(
    "cold", reusable=flyte.ReusePolicy(replicas=1, idle_ttl=1, concurrency=4)
)
# Four bodies must be inside at once to pass: a worker that ran them one at a time fails
# them (BrokenBarrierError) after the deadline instead of hanging.
MEET = threading.Barrier(4)


@cold.task
def meet(i: int) -> int:
    MEET.wait(timeout=20)
    return i


@plain.task
async def fan_meet() -> list[int]:
    return list(await asyncio.gather(*(meet.aio(i) for i in range(4))))


@plain.task
def fan_reused(n: int) -> list[tuple[int, int]]:
    return list(flyte.map(count_calls, range(n)))


@cpu_env.task
def hold_cpu(i: int, folder: str) -> int:
    """Count the attempts running at once with marker files (no clocks involved)."""
    mine = Path(folder) / f"{i}.running"
    mine.touch()
    try:
        running = len(list(Path(folder).glob("*.running")))
        (Path(folder) / f"{i}.seen").write_text(str(running))
        time.sleep(0.3)
    finally:
        mine.unlink()
    return running


@plain.task
async def six_cpu_tasks(folder: str) -> list[int]:
    return list(await asyncio.gather(*(hold_cpu.aio(i, folder) for i in range(6))))


@small.task
def allocate(mb: int) -> int:
    block = bytearray(mb * 2**20)
    for i in range(0, len(block), 4096):  # touch every page: resident, not just reserved
        block[i] = 1
    return len(block) // 2**20


@plain.task
def oom_then_bigger(mb: int) -> str:
    """The seed's pattern: catch OOMError, retry with more memory."""
    try:
        allocate(mb)
        return "fit"
    except flyte.errors.OOMError:
        bigger = allocate.override(resources=flyte.Resources(memory="2Gi"))
        return f"retried:{bigger(mb)}"


@worker_env.task(timeout=1)
def sleeps(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


@worker_env.task
def dies(how: str) -> int:
    if how == "exit":
        os._exit(3)
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if how == "segv":
        import ctypes

        ctypes.string_at(0)
    if how == "sysexit":
        raise SystemExit(4)
    return 0


@worker_env.task(retries=1)
def dies_once() -> int:
    ctx = flyte.ctx()
    assert ctx is not None
    if ctx.attempt == 1:
        os._exit(9)
    return ctx.attempt


@worker_env.task
def raises_value_error(x: int) -> int:
    raise ValueError(f"bad input {x}")


@plain.task
def catches_child_error() -> str:
    try:
        raises_value_error(7)
    except ValueError as exc:
        return f"caught {type(exc).__name__}: {exc}"
    return "not raised"


@flyte.trace
def traced(x: int) -> int:
    print(f"tracing {x}")
    CALLS["n"] += 1
    return x * 10


@plain.task
def helper_inline(x: int) -> int:
    print(f"inline helper {x}")
    return x + 1


@worker_env.task(retries=1)
def worker_calls_inline(x: int, fail_first: bool) -> int:
    print(f"worker body {x}")
    a = traced(x)
    b = helper_inline(x)
    ctx = flyte.ctx()
    assert ctx is not None
    if fail_first and ctx.attempt == 1:
        raise RuntimeError("first attempt fails after its trace")
    return a + b


@plain.task
def root_worker_calls_inline(x: int, fail_first: bool = False) -> int:
    return worker_calls_inline(x, fail_first)


@worker_env.task
def worker_map(n: int) -> list[int]:
    return list(flyte.map(helper_inline, range(n)))


@worker_env.task
async def worker_group(n: int) -> list[int]:
    with flyte.group("inner"):
        return list(await asyncio.gather(*(helper_inline.aio(i) for i in range(n))))


@worker_env.task
def flaky_worker(x: int, marker: str) -> int:
    a = traced(x)
    b = helper_inline(x)
    if os.path.exists(marker):
        raise RuntimeError("the marker file is there")
    return a + b


@plain.task
def root_flaky(x: int, marker: str) -> int:
    return flaky_worker(x, marker)


@worker_env.task(report=True)
def reports_from_worker(x: int) -> int:
    flyte.report.log(f"<p>worker {x}</p>")
    return x


secret_env = flyte.TaskEnvironment(
    "secret_env",
    resources=flyte.Resources(memory="1Gi"),
    secrets=flyte.Secret(key="token_a", as_env_var="TOKEN_A"),
)


@secret_env.task
def read_secrets() -> dict[str, str | None]:
    return {
        "TOKEN_A": os.environ.get("TOKEN_A"),
        "FLYTE_SECRET_TOKEN_B": os.environ.get("FLYTE_SECRET_TOKEN_B"),
    }


@flyte.trace
async def async_traced(x: int) -> int:
    print(f"async tracing {x}")
    return x * 100


@worker_env.task(retries=1)
async def worker_async_traces(x: int) -> int:
    a = await async_traced(x)
    b = await async_traced(x + 1)
    ctx = flyte.ctx()
    assert ctx is not None
    if ctx.attempt == 1:
        raise RuntimeError("first attempt fails after its traces")
    return a + b


reused_small = flyte.TaskEnvironment(
    "reused_small",
    resources=flyte.Resources(memory="200Mi"),
    reusable=flyte.ReusePolicy(replicas=1, idle_ttl=2),
)


@reused_small.task
def warm_allocate(mb: int) -> int:
    block = bytearray(mb * 2**20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    return os.getpid()


@plain.task
def oom_in_warm_worker() -> list[str]:
    first = warm_allocate(1)
    try:
        warm_allocate(600)
        crashed = "fit"
    except flyte.errors.OOMError:
        crashed = "oom"
    after = warm_allocate(1)
    return [crashed, "same" if first == after else "replaced"]


@small.task
def raises_memory_error(x: int) -> int:
    """Raises MemoryError itself, far below its 200Mi limit: the user's own error."""
    raise MemoryError(f"{x} is over my own limit")


@worker_env.task
async def catches_own_memory_error() -> str:
    try:
        await raises_memory_error.aio(3)
    except flyte.errors.OOMError:
        return "oom"
    except MemoryError as exc:
        return f"own:{type(exc).__name__}"
    return "none"


# Upstream's reuse/fallback_to_regular.py: a parent in a reusable environment calls a child
# of the same environment that runs out of memory, and falls back to a fresh, bigger one.
fallback_env = flyte.TaskEnvironment(
    "fallback_env",
    resources=flyte.Resources(memory="200Mi"),
    reusable=flyte.ReusePolicy(replicas=2, idle_ttl=2),
)


@fallback_env.task
async def crunch(mb: int) -> int:
    block = bytearray(mb * 2**20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    return os.getpid()


@fallback_env.task
async def crunch_with_fallback(mb: int) -> list[str]:
    try:
        await crunch(mb)
        return ["fit"]
    except flyte.errors.OOMError:
        bigger = crunch.override(reusable="off", resources=flyte.Resources(memory="2Gi"))
        pid = await bigger(mb)
        return ["fallback", "elsewhere" if pid != os.getpid() else "here"]
