"""`flyte serve` beside the local path, measured in the same run.

- submit -> first action started: from the client calling `flyte.run` (not waiting) to
  the root action's `started_at` recorded by the server's driver, beside the same
  through the local engine in this process (one clock: the same machine);
- `flyte get runs` through the server, beside the local command on the same store file
  (whole processes, spawn to exit);
- a 1,000-task fan-out driven on the server, submit to the run's recorded end, beside
  the same run on the local engine with a durable store, per task.

Run alone: `python benchmarks/run_all.py --only server_submit server_get_runs server_fanout`
(or `python benchmarks/bench_server.py` for a quick look).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from _harness import REPO, Row, clean_env, flyte_executable, median, spawn_timed, write_script

__all__ = ["server_fanout", "server_get_runs", "server_submit"]

TOKEN = "bench-token"

PROGRAM = """\
import asyncio

import flyte

env = flyte.TaskEnvironment("bench_server")


@env.task
async def noop(i: int) -> int:
    return i


@env.task
async def trivial() -> int:
    return 1


@env.task
async def fanout(n: int) -> int:
    return sum(await asyncio.gather(*(noop(i) for i in range(n))))
"""


class _Server:
    def __init__(self, home: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.home = home
        self.endpoint = f"http://127.0.0.1:{self.port}"
        env = clean_env(FLYTE_HOME=str(home), PYTHONPATH=str(REPO))
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flyte_cli",
                "serve",
                "--port",
                str(self.port),
                "--token",
                TOKEN,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.endpoint}/api/v1/health", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("flyte serve did not start") from None
                time.sleep(0.02)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def _load(workdir: Path) -> Any:
    import importlib

    write_script(workdir, "bench_server_prog.py", PROGRAM)
    if str(workdir) not in sys.path:
        sys.path.insert(0, str(workdir))
    return importlib.import_module("bench_server_prog")


def _remote(server: _Server) -> None:
    import flyte

    flyte.init(endpoint=server.endpoint, api_key=TOKEN)


def _local(workdir: Path) -> Any:
    import flyte
    from flyte._store.sqlite import SqliteRunStore

    store = SqliteRunStore(workdir / "local" / "runs.db")
    flyte.init(store=store)
    return store


def _first_action_latency(task: Any, store_of_run: Any) -> float:
    """Seconds from submitting `task` to its root action's recorded start."""
    import flyte

    t0 = time.time()
    run = flyte.with_runcontext(wait=False).run(task)
    store = store_of_run(run)
    while True:
        root = store.get_action(run.name, "a0")
        if root is not None and root.started_at is not None:
            started = root.started_at
            break
        time.sleep(0.002)
    run.wait()
    return started - t0


def server_submit(reps: int, workdir: Path) -> list[Row]:
    prog = _load(workdir)
    server = _Server(workdir / "server-home")
    try:
        remote_times, local_times = [], []
        for rep in range(reps + 1):  # the first of each is a warm-up
            _remote(server)
            remote = _first_action_latency(prog.trivial, lambda run: run.store)
            _local(workdir)
            local = _first_action_latency(prog.trivial, lambda run: run.store)
            if rep:
                remote_times.append(remote)
                local_times.append(local)
    finally:
        server.stop()
    return [
        Row(
            name="server_submit",
            title="`flyte serve`: submit -> first action started, loopback",
            unit="ms",
            value=median(remote_times) * 1000,
            baseline=median(local_times) * 1000,
            baseline_label="local engine, same process",
            target=50.0,
            n=reps,
            note="the server hands the run to a warm driver process; the code ships with it",
        )
    ]


def server_get_runs(reps: int, workdir: Path) -> list[Row]:
    prog = _load(workdir)
    server = _Server(workdir / "server-home")
    try:
        _remote(server)
        for _ in range(20):  # a store with some runs to list
            import flyte

            flyte.run(prog.trivial)
        flyte_bin = str(flyte_executable())
        env = clean_env(FLYTE_HOME=str(workdir / "client-home"))
        remote_cmd = [flyte_bin, "--endpoint", server.endpoint, "--api-key", TOKEN]
        local_cmd = [flyte_bin, "--store", str(server.home / "runs.db")]
        commands = {
            "remote": [*remote_cmd, "get", "runs"],
            "local": [*local_cmd, "get", "runs"],
            "remote_json": [*remote_cmd, "get", "runs", "--json"],
            "local_json": [*local_cmd, "get", "runs", "--json"],
        }
        out = spawn_timed(commands["remote"], env=env)[2]
        if "bench_server.trivial" not in out:
            raise AssertionError(f"flyte get runs via the server printed {out!r}")
        times: dict[str, list[float]] = {k: [] for k in commands}
        keys = list(commands)
        for rep in range(reps):
            for key in keys[rep % len(keys) :] + keys[: rep % len(keys)]:
                times[key].append(spawn_timed(commands[key], env=env)[0])
    finally:
        server.stop()
    med = {k: median(v) for k, v in times.items()}
    return [
        Row(
            name="server_get_runs",
            title="`flyte get runs` through the server (whole process)",
            unit="s",
            value=med["remote"],
            baseline=med["local"],
            baseline_label="the local command, same store file",
            target=2 * med["local"],
            n=reps,
            note=f"--json: {med['remote_json']:.3f} s via the server, {med['local_json']:.3f} s local",
        )
    ]


def server_fanout(reps: int, workdir: Path) -> list[Row]:
    import flyte

    prog = _load(workdir)
    n = 1000
    server = _Server(workdir / "server-home")

    def timed(setup: Any) -> tuple[float, float]:
        """(run duration, submit to recorded end), in µs per task."""
        setup()
        t0 = time.time()
        run = flyte.with_runcontext(wait=False).run(prog.fanout, n=n)
        record = run.wait().record
        if record.phase.value != "SUCCEEDED":
            raise AssertionError(f"fan-out ended {record.phase}")
        assert record.ended_at is not None and record.started_at is not None
        return (
            (record.ended_at - record.started_at) / n * 1e6,
            (record.ended_at - t0) / n * 1e6,
        )

    try:
        remote_times, local_times = [], []
        for rep in range(reps + 1):
            remote = timed(lambda: _remote(server))
            local = timed(lambda: _local(workdir))
            if rep:
                remote_times.append(remote)
                local_times.append(local)
    finally:
        server.stop()
    local_med = median([t[0] for t in local_times])
    return [
        Row(
            name="server_fanout",
            title="fan-out of 1,000 tasks driven by `flyte serve` (run start to end)",
            unit="µs/task",
            value=median([t[0] for t in remote_times]),
            baseline=local_med,
            baseline_label="local engine, SQLite store, same process",
            target=local_med * 1.10,
            n=reps,
            note="target: no more per task than locally (10% allowed for machine noise); "
            f"submit to recorded end: {median([t[1] for t in remote_times]):.0f} µs/task via "
            f"the server, {median([t[1] for t in local_times]):.0f} locally",
        )
    ]


if __name__ == "__main__":
    import tempfile

    os.environ.setdefault("FLYTE_HOME", tempfile.mkdtemp(prefix="flyte-bench-server-"))
    work = Path(os.environ["FLYTE_HOME"]) / "work"
    for bench in (server_submit, server_get_runs, server_fanout):
        for row in bench(3, work / bench.__name__):
            print(json.dumps({"name": row.name, "value": row.value, "baseline": row.baseline,
                              "target": row.target, "status": row.status}))  # fmt: skip
