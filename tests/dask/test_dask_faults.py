"""Faults on a real cluster: a lost scheduler, and a worker killed by Dask for memory.

Each test starts its own small cluster in subprocesses (`dask scheduler`, `dask worker`),
because both faults destroy or restrict it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask_tasks as t
import pytest

import flyte
import flyte.errors
from flyte._models import Phase

pytest.importorskip("distributed")

DASK = str(Path(sys.executable).with_name("dask"))
TASKS_DIR = str(Path(t.__file__).parent)
NO_DASHBOARD = ("--dashboard-address", ":0")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SubprocessCluster:
    """`dask scheduler` and `dask worker` processes, stopped at the end of the test."""

    def __init__(self, tmp: Path, *worker_args: str) -> None:
        self.port = _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": TASKS_DIR}
        self.log = open(tmp / "cluster.log", "wb")  # noqa: SIM115 - closed in stop()
        common = {"env": env, "stdout": self.log, "stderr": self.log}
        self.scheduler = subprocess.Popen(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(self.port), *NO_DASHBOARD],
            **common,  # type: ignore[call-overload]
        )
        self.worker = subprocess.Popen(
            [DASK, "worker", self.address, "--nthreads", "1", *NO_DASHBOARD, *worker_args],
            **common,  # type: ignore[call-overload]
        )

    @property
    def spec(self) -> str:
        return f"dask://127.0.0.1:{self.port}"

    def wait_for_worker(self) -> None:
        from distributed import Client

        with Client(self.address, timeout="60s", set_as_default=False) as client:
            client.wait_for_workers(1, timeout=60)

    def stop(self) -> None:
        for proc in (self.worker, self.scheduler):
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self.log.close()


@pytest.fixture
def cluster_factory(tmp_path: Path) -> Iterator[Any]:
    from flyte._controller.dask_cluster import close_all

    made: list[SubprocessCluster] = []

    def make(*worker_args: str) -> SubprocessCluster:
        cluster = SubprocessCluster(tmp_path, *worker_args)
        made.append(cluster)
        cluster.wait_for_worker()
        return cluster

    yield make
    for cluster in made:
        cluster.stop()
    close_all()


def _wait_for(condition: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_lost_scheduler_fails_the_run_clearly_and_recover_finishes_it(
    cluster_factory: Any, sqlite_store: Any, tmp_path: Path
) -> None:
    cluster = cluster_factory()
    markers = tmp_path / "markers"
    markers.mkdir()
    (markers / "hold").touch()
    flyte.init(store=sqlite_store, executor=cluster.spec)
    run = flyte.with_runcontext(echo=False, raise_on_failure=False).start(t.steps, 6, str(markers))
    _wait_for(lambda: (markers / "step-3").exists(), "step 3 to start")
    cluster.scheduler.send_signal(signal.SIGKILL)
    run.wait(timeout=60)

    record = run.record
    assert record.phase is Phase.FAILED
    assert record.error_type == "ExecutorLostError"
    assert f"lost the Dask scheduler at {cluster.address}" in (record.error_message or "")
    assert f"flyte rerun {run.name} --recover" in (record.error_message or "")

    def step3() -> Any:
        (found,) = [a for a in sqlite_store.list_actions(run.name) if '"i": 3' in a.inputs_json]
        return found

    # The step fails with the run (its record may land a moment after the run's own).
    _wait_for(lambda: step3().phase is Phase.FAILED, "step 3 to be recorded FAILED")
    assert step3().error_type == "ExecutorLostError"
    assert step3().attempts == 1  # a lost scheduler is not retried

    (markers / "hold").unlink()
    fresh = cluster_factory()
    flyte.init(store=sqlite_store, executor=fresh.spec)
    again = flyte.rerun(run.name, recover=True)
    assert again.outputs()[0] == sum(range(6))
    runs = {i: (markers / f"step-{i}").read_text().count("ran") for i in range(6)}
    assert runs == {0: 1, 1: 1, 2: 1, 3: 2, 4: 1, 5: 1}


def test_a_worker_killed_by_dask_for_memory_fails_with_oom_error(
    cluster_factory: Any, sqlite_store: Any
) -> None:
    cluster = cluster_factory("--memory-limit", "300MiB")
    flyte.init(store=sqlite_store, executor=cluster.spec)
    with pytest.raises(flyte.errors.OOMError, match="Dask killed the Dask worker") as caught:
        flyte.with_runcontext(echo=False, name="hungry").run(t.hog, 600)
    assert isinstance(caught.value, flyte.errors.RuntimeUserError)
    assert caught.value.code == "OOMError"
    (attempt,) = sqlite_store.list_attempts("hungry", "a0")
    assert attempt.error_type == "OOMError"
    assert "over its memory limit" in (attempt.error_message or "")
    # The nanny restarted the worker: the cluster keeps running tasks.
    assert flyte.with_runcontext(echo=False).run(t.hog, 1).outputs()[0] == 1


def test_messages_from_several_worker_threads_are_never_left_unhandled() -> None:
    """Each worker's channel is read on its own thread, and each thread posts what it
    reads to the loop. Two posting at once could each find the other's message queued,
    both leave waking the loop to the other, and the attempts waited forever (a fan-out
    hung about one run in ten under `make bench`)."""
    import asyncio
    import collections
    import threading
    import time
    from types import SimpleNamespace

    from flyte._controller.dask import DaskExecutor

    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, daemon=True)
    runner.start()
    executor = DaskExecutor("dask", SimpleNamespace(loop=loop))  # type: ignore[arg-type]

    class Slow(collections.deque):  # type: ignore[type-arg]
        """Gives the other threads their turn right after each append: the interleaving
        that lost messages, made certain rather than waited for."""

        def append(self, item: Any) -> None:
            super().append(item)
            time.sleep(0.001)

    executor._inbox = Slow()
    handled: list[tuple[Any, ...]] = []
    executor._on_message = lambda link, message: handled.append(message)  # type: ignore[method-assign]
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    try:
        for round_ in range(50):
            start = threading.Barrier(3)

            def post(i: int, round_: int = round_, start: Any = start) -> None:
                start.wait()
                executor._post(None, ("m", round_, i))

            threads = [threading.Thread(target=post, args=(i,)) for i in range(3)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            deadline = time.monotonic() + 5
            while len(handled) < 3 * (round_ + 1):
                assert time.monotonic() < deadline, f"round {round_}: a message was never handled"
                time.sleep(0.0005)
    finally:
        sys.setswitchinterval(before)
        loop.call_soon_threadsafe(loop.stop)
        runner.join(5)
        executor._closed = True
