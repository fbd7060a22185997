"""Tasks the Dask executor tests run on real Dask workers (imported there by name)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import flyte
import flyte.errors
from flyte.io import File

env = flyte.TaskEnvironment("dask_tests")


@env.task
def square(i: int) -> int:
    print(f"square({i}) on pid {os.getpid()}")
    return i * i


@env.task
async def fan_out(n: int) -> list[int]:
    return list(await asyncio.gather(*(square.aio(i) for i in range(n))))


@env.task
def where() -> int:
    return os.getpid()


@env.task
def child(x: int) -> int:
    print(f"child got {x}")
    return x + 1


@env.task
def parent(x: int) -> tuple[int, int, int]:
    """A sync task on a worker calling another task (sync, from sync code)."""
    print(f"parent calls child with {x}")
    return child(x), os.getpid(), where()


@flyte.trace
def checkpoint(x: int) -> int:
    print(f"checkpoint body ran for {x}")
    return x * 10


@env.task(retries=2)
def kill_own_worker(marker: str) -> int:
    """The first attempt SIGKILLs the Dask worker process running it; the retry succeeds."""
    ctx = flyte.ctx()
    assert ctx is not None
    value = checkpoint(4)
    if ctx.attempt == 1:
        Path(marker).write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return value + ctx.attempt


@env.task(timeout=1)
def too_slow(marker: str) -> int:
    try:
        # Short sleeps: an abort/timeout can interrupt between them. Under a tracer
        # (coverage) it does not; the test then lets the body go (`.release`), lest it hold
        # the worker's only thread for a minute.
        for _ in range(1200):
            if Path(marker + ".release").exists():
                break
            time.sleep(0.05)
    finally:
        Path(marker).write_text(f"stopped at {time.time()}")
    return 0


@env.task
async def too_slow_parent(marker: str) -> str:
    try:
        await too_slow.aio(marker)
    except flyte.errors.TaskTimeoutError as exc:
        return f"caught {type(exc).__name__}"
    return "no timeout"


@env.task
def write_file(text: str) -> File:
    path = Path(f"/tmp/flyte-dask-test-{os.getpid()}-{time.time_ns()}.txt")
    path.write_text(text)
    try:
        return File.from_local_sync(str(path))
    finally:
        path.unlink()


@env.task
def read_file(f: File) -> tuple[str, int]:
    with f.open_sync("r") as fh:
        return fh.read(), os.getpid()


@env.task
def file_roundtrip(text: str) -> tuple[str, int, int]:
    f = write_file(text)
    content, reader = read_file(f)
    return content, reader, os.getpid()


big_env = flyte.TaskEnvironment("dask_big", resources=flyte.Resources(cpu=1, memory="100Mi", gpu=1))


@big_env.task
def with_resources() -> int:
    return os.getpid()


huge_env = flyte.TaskEnvironment("dask_huge", resources=flyte.Resources(cpu=64))


@huge_env.task
def too_big() -> int:
    return 0


@env.task
def step(i: int, marker_dir: str) -> int:
    """One step of `steps`: appends a line to its marker file each time its body runs."""
    with open(Path(marker_dir) / f"step-{i}", "a") as fh:
        fh.write("ran\n")
    hold = Path(marker_dir) / "hold"
    if i == 3 and hold.exists():
        for _ in range(600):  # the driver is killed while this step runs
            time.sleep(0.05)
    return i


@env.task
def steps(n: int, marker_dir: str) -> int:
    return sum(step(i, marker_dir) for i in range(n))


@env.task
def hog(mib: int) -> int:
    block = b"x" * (mib * 2**20)
    time.sleep(2)  # Dask's nanny checks memory every 100 ms
    return len(block) // 2**20


@env.task
def depth(n: int) -> int:
    """Each level waits on the next: deeper than the cluster has worker threads."""
    return 0 if n == 0 else 1 + depth(n - 1)


@env.task
def mapped(n: int) -> list[int]:
    return list(flyte.map(square, range(n)))


@env.task
def wait_forever(marker: str) -> int:
    Path(marker).write_text(str(os.getpid()))
    try:
        for _ in range(1200):  # released as too_slow is
            if Path(marker + ".release").exists():
                break
            time.sleep(0.05)
    finally:
        Path(marker + ".stopped").touch()
    return 0


cpu_env = flyte.TaskEnvironment("dask_cpu", resources=flyte.Resources(cpu=1))


@cpu_env.task
def cpu_child(i: int) -> int:
    return i


@cpu_env.task
def cpu_parent(n: int) -> int:
    """Holds a worker's CPU=1 while its CPU=1 children run on the other worker."""
    return sum(cpu_child(i) for i in range(n))


@env.task
def raises_memory_error() -> int:
    raise MemoryError("the body's own MemoryError")


@env.task
def catches_memory_error() -> str:
    try:
        raises_memory_error()
    except flyte.errors.OOMError:
        return "OOMError"
    except MemoryError as exc:
        return f"MemoryError: {exc}"
    return "nothing"
