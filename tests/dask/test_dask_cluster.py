"""The Dask cluster lifecycle: executor specs, the local cluster flyte starts, clients."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from flyte._controller import dask_cluster as fdask
from flyte.errors import ExecutorUnavailableError, InvalidOptionError


@pytest.mark.parametrize(
    ("spec", "address"),
    [
        ("dask", None),
        ("dask://10.0.0.5:9000", "tcp://10.0.0.5:9000"),
        ("dask://scheduler", "tcp://scheduler:8786"),
        ("dask://127.0.0.1:8786/", "tcp://127.0.0.1:8786"),
    ],
)
def test_parse_executor(spec: str, address: str | None) -> None:
    assert fdask.parse_executor(spec) == address


@pytest.mark.parametrize("spec", ["dask:", "dask://", "dask://host:port", "ray://x:1", "daskx"])
def test_parse_executor_rejects_bad_specs(spec: str) -> None:
    with pytest.raises(InvalidOptionError, match=r"dask://HOST:PORT|port must be a number"):
        fdask.parse_executor(spec)


def test_unreachable_scheduler_is_a_clear_error() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ExecutorUnavailableError, match="cannot reach the Dask scheduler"):
        fdask.open_cluster(f"dask://127.0.0.1:{port}")


def test_client_is_used_as_given(dask_client: Any) -> None:
    cluster = fdask.open_cluster(dask_client)
    assert cluster.client is dask_client
    assert fdask.open_cluster(dask_client) is cluster
    assert len(cluster.workers()) == 2
    cluster.close()
    # flyte did not open this client, so closing flyte's side leaves it usable.
    assert dask_client.submit(os.getpid, pure=False).result() != os.getpid()


def test_address_spec_connects_to_a_running_scheduler(dask_cluster: Any) -> None:
    host_port = dask_cluster.scheduler_address.removeprefix("tcp://")
    cluster = fdask.open_cluster(f"dask://{host_port}")
    try:
        assert cluster.address == dask_cluster.scheduler_address
        assert fdask.open_cluster(f"dask://{host_port}") is cluster
        assert cluster.client.submit(os.getpid, pure=False).result() != os.getpid()
    finally:
        fdask.close_all()


def test_executor_dask_starts_a_local_cluster_runs_there_and_stops_it_at_exit(
    tmp_path: Path,
) -> None:
    # A user script without a __main__ guard: Dask's spawned workers must not re-run it,
    # and the cluster's own process must be gone when the script exits.
    script = tmp_path / "driver.py"
    script.write_text(
        textwrap.dedent(
            """
            import os
            import flyte
            from flyte._controller.dask_cluster import open_cluster

            env = flyte.TaskEnvironment("script")

            @env.task
            def pid(i: int) -> int:
                return os.getpid()

            @env.task
            def main(n: int) -> list[int]:
                return [pid(i) for i in range(n)]

            flyte.init(executor="dask")
            pids = flyte.with_runcontext(echo=False).run(main, 4).outputs()[0]
            cluster = open_cluster("dask")
            print("CLUSTER", cluster.process.pid, flush=True)
            print("WORKERS", len(cluster.workers()), flush=True)
            print("RESOURCES", sorted(cluster.worker_resources()), flush=True)
            print("FOREIGN", all(p != os.getpid() for p in pids), flush=True)
            print("RAN", len(pids), flush=True)
            """
        )
    )
    env = {**os.environ, "FLYTE_HOME": str(tmp_path / "home")}
    out = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=110
    )
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    assert int(lines["WORKERS"]) == (os.cpu_count() or 1)
    assert lines["RESOURCES"] == "['CPU', 'MEMORY']"
    assert lines["FOREIGN"] == "True"
    assert lines["RAN"] == "4"
    assert not _alive(int(lines["CLUSTER"]))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes; /proc says so on Linux.
    try:
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False


def test_resources_map_onto_declared_worker_resources() -> None:
    import flyte

    declared = {"CPU": 2.0, "MEMORY": 4 * 2.0**30, "GPU": 1.0}
    plan = fdask.plan_resources("t", flyte.Resources(cpu="500m", memory="1Gi", gpu=1), declared)
    assert plan.dask == {"CPU": 0.5, "MEMORY": float(2**30), "GPU": 1.0}
    assert plan.unenforced == [] and plan.note() is None
    ranged = fdask.plan_resources("t", flyte.Resources(cpu=(1, 2), gpu="A100:1"), declared)
    assert ranged.dask == {"CPU": 1.0, "GPU": 1.0}
    assert fdask.plan_resources("t", None, declared).dask == {}


def test_resources_no_worker_declares_are_recorded_with_a_note() -> None:
    import flyte

    plan = fdask.plan_resources("t", flyte.Resources(cpu=1, memory="1Gi"), {"cpu": 4.0})
    assert plan.dask == {"cpu": 1.0}
    assert plan.unenforced == ["memory"]
    note = plan.note()
    assert note is not None and "memory recorded, not enforced" in note and "--resources" in note


def test_a_request_no_worker_can_hold_is_an_error_at_call_time() -> None:
    import flyte

    with pytest.raises(InvalidOptionError, match=r"asks for memory=8192Mi.*MEMORY=1024Mi"):
        fdask.plan_resources("env.t", flyte.Resources(memory="8Gi"), {"MEMORY": 2.0**30})


def test_import_flyte_and_a_local_run_never_import_dask(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import json, sys
        import flyte

        env = flyte.TaskEnvironment("plain")

        @env.task
        def one() -> int:
            return 1

        flyte.init(store="memory")
        assert flyte.run(one).outputs()[0] == 1
        flyte.init(store="memory", executor="dask://127.0.0.1:1")  # checked, not connected
        print(json.dumps(sorted(m for m in ("dask", "distributed") if m in sys.modules)))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLYTE_")}
    env["FLYTE_HOME"] = str(tmp_path / "home")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_local_cluster_stops_when_its_driver_is_killed(tmp_path: Path) -> None:
    import signal
    import time

    script = tmp_path / "driver.py"
    script.write_text(
        textwrap.dedent(
            """
            import time
            from flyte._controller.dask_cluster import open_cluster

            print("CLUSTER", open_cluster("dask").process.pid, flush=True)
            time.sleep(600)
            """
        )
    )
    env = {**os.environ, "FLYTE_HOME": str(tmp_path / "home")}
    driver = subprocess.Popen(
        [sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert driver.stdout is not None
        line = driver.stdout.readline()
        assert line.startswith("CLUSTER"), line
        cluster_pid = int(line.split()[1])
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    deadline = time.monotonic() + 60
    while _alive(cluster_pid):  # its stdin closed with the driver: it shuts down
        assert time.monotonic() < deadline, "the cluster outlived its driver"
        time.sleep(0.1)


def test_callback_host_is_what_workers_can_reach(monkeypatch: pytest.MonkeyPatch) -> None:
    from flyte._controller.dask import callback_host

    assert callback_host("tcp://127.0.0.1:8786") == "127.0.0.1"
    assert callback_host("tcp://localhost:8786") == "127.0.0.1"
    # A scheduler elsewhere: the local address of the route to it (no packet is sent).
    import ipaddress

    ipaddress.ip_address(callback_host("tcp://10.255.255.1:8786"))
    monkeypatch.setenv("FLYTE_DASK_CALLBACK_HOST", "driver.example")
    assert callback_host("tcp://10.255.255.1:8786") == "driver.example"
