"""Dask clusters for the Dask executor: open one from an executor spec, map resources.

`flyte.init(executor="dask")` starts a `LocalCluster` sized to this machine (in a child
process, shut down when this process exits), `"dask://HOST:PORT"` connects to a running
scheduler, and a `distributed.Client` is used as given. `distributed` is imported only
when one of these is asked for (extra `dask`), so `import flyte` never imports it.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flyte.errors import ExecutorUnavailableError, InvalidOptionError

if TYPE_CHECKING:
    from types import ModuleType

    from distributed import Client

    from flyte._options import Resources

__all__ = [
    "DaskCluster",
    "ResourcePlan",
    "open_cluster",
    "parse_executor",
    "plan_resources",
]

DEFAULT_PORT = 8786
# A child that prints this line followed by the scheduler address is ready.
_READY = "flyte-dask-scheduler"
_START_TIMEOUT = 120.0
_MEMORY_TOPIC = "worker-restart-memory"


def import_distributed() -> ModuleType:
    """`distributed`, or an ImportError that says which extra to install."""
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(
            "the Dask executor needs dask.distributed: pip install 'flyte-local[dask]'"
        ) from exc
    return distributed


def parse_executor(spec: str) -> str | None:
    """The scheduler address of a `dask` executor spec; None means "start a LocalCluster".

    Raises:
        InvalidOptionError: `spec` is not `dask` or `dask://HOST[:PORT]`.
    """
    if spec == "dask":
        return None
    prefix = "dask://"
    if not spec.startswith(prefix) or not spec[len(prefix) :].strip("/"):
        raise InvalidOptionError(
            f"executor {spec!r} is not valid; use 'dask' (a local cluster) or "
            "'dask://HOST:PORT' (a running `dask scheduler`)"
        )
    hostport = spec[len(prefix) :].strip("/")
    host, _, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "")
    if not port:
        host, port = hostport, str(DEFAULT_PORT)
    if not port.isdigit() or not host:
        raise InvalidOptionError(
            f"executor {spec!r} is not valid; the port must be a number, as in "
            f"'dask://127.0.0.1:{DEFAULT_PORT}'"
        )
    return f"tcp://{host}:{port}"


class DaskCluster:
    """A client on a Dask cluster, and the local cluster process when flyte started one.

    Example:
        cluster = open_cluster("dask://127.0.0.1:8786")
        print(cluster.address, cluster.worker_resources())
    """

    def __init__(
        self,
        client: Client,
        *,
        spec: str,
        owned_client: bool,
        process: subprocess.Popen[bytes] | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.client = client
        self.spec = spec
        self.owned_client = owned_client
        self.process = process
        self.log_path = log_path
        self._closed = False
        self._address: str | None = None
        # Worker pids a nanny killed for memory (Dask's "worker-restart-memory" event):
        # how an attempt whose worker vanished is told apart as OOMError.
        self._memory_kills: dict[int, dict[str, Any]] = {}
        self._kills_changed = threading.Condition()
        client.subscribe_topic(_MEMORY_TOPIC, self._on_memory_kill)

    def _on_memory_kill(self, event: tuple[float, dict[str, Any]]) -> None:
        msg = event[1]
        with self._kills_changed:
            if len(self._memory_kills) > 10_000:
                self._memory_kills.clear()
            self._memory_kills[int(msg.get("pid", -1))] = msg
            self._kills_changed.notify_all()

    def killed_for_memory(self, pid: int, wait: float = 0.0) -> dict[str, Any] | None:
        """The nanny's memory-kill event for worker process `pid`, waiting up to `wait` s.

        The event travels nanny -> scheduler -> client while the worker's connections drop
        at once, so a caller that saw a worker vanish waits a little for the reason.
        """
        deadline = time.monotonic() + wait
        with self._kills_changed:
            while True:
                found = self._memory_kills.get(pid)
                left = deadline - time.monotonic()
                if found is not None or left <= 0:
                    return found
                self._kills_changed.wait(left)

    @property
    def closed(self) -> bool:
        return self._closed or self.client.status in ("closing", "closed")

    @property
    def address(self) -> str:
        """The scheduler's address (as connected: still known after the scheduler is lost)."""
        if self._address is None:
            self._address = str(self.client.scheduler_info()["address"])
        return self._address

    def workers(self) -> dict[str, dict[str, Any]]:
        """Worker address -> the scheduler's info on it (pid, nthreads, resources, ...)."""
        info = self.client.scheduler_info(n_workers=-1)
        return dict(info.get("workers", {}))

    def worker_resources(self) -> dict[str, float]:
        """The largest amount of each resource any one worker declares (empty if none)."""
        best: dict[str, float] = {}
        for worker in self.workers().values():
            for name, amount in (worker.get("resources") or {}).items():
                best[name] = max(best.get(name, 0.0), float(amount))
        return best

    def close(self) -> None:
        """Close the client if flyte opened it, and stop the cluster flyte started."""
        if self._closed:
            return
        self._closed = True
        try:
            self.client.unsubscribe_topic(_MEMORY_TOPIC)
        except Exception:  # a closed client has nothing to unsubscribe from
            pass
        if self.owned_client:
            try:
                self.client.close(timeout=10)
            except Exception:  # the scheduler may already be gone; nothing left to close
                pass
        if self.process is not None:
            _stop_process(self.process)


class ResourcePlan:
    """How a task's `Resources` meet a Dask cluster: what Dask enforces, what it cannot."""

    __slots__ = ("dask", "unenforced")

    def __init__(self, dask: dict[str, float], unenforced: list[str]) -> None:
        self.dask = dask
        """Passed to `Client.submit(resources=...)`: Dask's names and amounts."""
        self.unenforced = unenforced
        """Requests no worker declares: recorded on the action, with a note, not enforced."""

    def note(self) -> str | None:
        if not self.unenforced:
            return None
        names = ", ".join(self.unenforced)
        return (
            f"{names} recorded, not enforced: the Dask workers declare no such resource "
            '(start them with e.g. `dask worker ADDRESS --resources "CPU=4 MEMORY=16e9"`)'
        )


def plan_resources(
    task_name: str, resources: Resources | None, declared: dict[str, float]
) -> ResourcePlan:
    """Map a task's requests onto the resources the cluster's workers declare.

    Names match case-insensitively (`cpu` -> `CPU`, `memory` -> `MEMORY` in bytes, `gpu`
    -> `GPU`, `disk` -> `DISK` in bytes). A request is the lower bound of a range.

    Raises:
        InvalidOptionError: a request is larger than any one worker's declared amount; Dask
            would keep such a task waiting forever.
    """
    if resources is None:
        return ResourcePlan({}, [])
    from flyte._options import _parse_cpu, parse_memory

    by_lower = {name.lower(): name for name in declared}
    wanted: dict[str, float] = {}
    if resources.cpu is not None:
        cpu = resources.cpu[0] if isinstance(resources.cpu, tuple) else resources.cpu
        wanted["cpu"] = _parse_cpu(cpu)
    if resources.memory is not None:
        memory = resources.memory[0] if isinstance(resources.memory, tuple) else resources.memory
        wanted["memory"] = float(parse_memory(memory))
    device = resources.get_device()
    if device is not None:  # gpu=1, "A100:2", "A100 80G:8", flyte.GPU(...): its count
        wanted["gpu"] = float(device.quantity)
    if resources.disk is not None:
        wanted["disk"] = float(parse_memory(resources.disk, what="disk"))
    mapped: dict[str, float] = {}
    unenforced: list[str] = []
    for name, amount in wanted.items():
        dask_name = by_lower.get(name)
        if dask_name is None:
            if amount:
                unenforced.append(name)
            continue
        if amount > declared[dask_name]:
            raise InvalidOptionError(
                f"{task_name} asks for {name}={_show(name, amount)}, but no Dask worker "
                f"declares more than {dask_name}={_show(name, declared[dask_name])}; lower "
                "the request or start workers with more (`dask worker --resources`)"
            )
        if amount:
            mapped[dask_name] = amount
    return ResourcePlan(mapped, unenforced)


def _show(name: str, amount: float) -> str:
    if name in ("memory", "disk"):
        return f"{amount / 2**20:.0f}Mi"
    return f"{amount:g}"


_clusters: dict[str, DaskCluster] = {}
_clusters_lock = threading.Lock()


def open_cluster(spec: str | Client) -> DaskCluster:
    """The cluster for an executor spec; opened once per process and closed at exit.

    Args:
        spec: "dask" (start a LocalCluster sized to this machine), "dask://HOST:PORT"
            (a running scheduler), or a `distributed.Client`.

    Raises:
        InvalidOptionError: the spec is malformed.
        ExecutorUnavailableError: the scheduler cannot be reached, or the cluster did not start.
    """
    if not isinstance(spec, str):
        client = spec
        key = f"client:{id(client)}"
        with _clusters_lock:
            found = _clusters.get(key)
            if found is None or found.client is not client:
                found = _clusters[key] = DaskCluster(client, spec="client", owned_client=False)
            return found
    address = parse_executor(spec)
    with _clusters_lock:
        found = _clusters.get(spec)
        if found is not None and not found.closed:
            return found
        distributed = import_distributed()
        if address is None:
            found = _start_local_cluster(distributed)
        else:
            found = DaskCluster(_connect(distributed, address, spec), spec=spec, owned_client=True)
        _clusters[spec] = found
        if len(_clusters) == 1:
            atexit.register(close_all)
        return found


def close_all() -> None:
    """Close every cluster opened by `open_cluster` (registered with atexit)."""
    with _clusters_lock:
        clusters = list(_clusters.values())
        _clusters.clear()
    for cluster in clusters:
        cluster.close()


def _connect(distributed: ModuleType, address: str, spec: str) -> Client:
    try:
        return distributed.Client(address, timeout="10s", set_as_default=False)  # type: ignore[no-any-return]
    except OSError as exc:
        raise ExecutorUnavailableError(
            f"cannot reach the Dask scheduler at {address} ({spec}): {exc}; start one with "
            "`dask scheduler` and `dask worker ADDRESS`, or use executor='dask' for a local "
            "cluster"
        ) from None


def _start_local_cluster(distributed: ModuleType) -> DaskCluster:
    """Start a LocalCluster in a child process and connect to it.

    The cluster lives in its own process, not in this one: Dask starts workers with the
    `spawn` method, which re-imports the `__main__` module in every worker (and again
    whenever a nanny restarts one), so a user script without an `if __name__ ==
    "__main__":` guard would run itself again. The child exits when its stdin closes, so
    the cluster never outlives this process, even one killed with SIGKILL.
    """
    from flyte._store import flyte_home

    log_dir = flyte_home() / "dask"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"local-cluster-{os.getpid()}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "flyte._controller.dask_cluster"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,  # Ctrl-C in the terminal reaches the driver only
        )
    address = _await_address(process, log_path)
    try:
        client = distributed.Client(address, timeout="30s", set_as_default=False)
    except OSError as exc:
        _stop_process(process)
        raise ExecutorUnavailableError(
            f"the local Dask cluster started at {address} but cannot be reached: {exc}"
        ) from None
    return DaskCluster(client, spec="dask", owned_client=True, process=process, log_path=log_path)


def _await_address(process: subprocess.Popen[bytes], log_path: Path) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + _START_TIMEOUT
    result: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode(errors="replace").strip()
            if line.startswith(_READY):
                result.append(line.split()[-1])
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(max(0.0, deadline - time.monotonic()))
    if result:
        return result[0]
    _stop_process(process)
    tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
    raise ExecutorUnavailableError(
        "the local Dask cluster did not start"
        + (f" ({tail[-1]})" if tail else "")
        + f"; see {log_path}"
    )


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    try:
        if process.stdin is not None:
            process.stdin.close()  # the child's signal to shut its cluster down cleanly
        process.wait(timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        process.kill()
        process.wait()


def _local_cluster_size() -> dict[str, Any]:
    """Worker processes for this machine: one single-threaded worker per CPU.

    Each worker declares its share as Dask resources (`CPU`, `MEMORY`), so a task's
    `Resources(cpu=..., memory=...)` become real scheduling constraints on this cluster.
    """
    cpus = os.cpu_count() or 1
    total = _total_memory()
    per_worker = total // cpus if total else None
    resources: dict[str, float] = {"CPU": 1.0}
    if per_worker:
        resources["MEMORY"] = float(per_worker)
    return {
        "n_workers": cpus,
        "threads_per_worker": 1,
        "memory_limit": per_worker or "auto",
        "resources": resources,
    }


def _total_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _serve_local_cluster() -> None:
    """Run a LocalCluster until stdin closes (the parent exited or asked to stop)."""
    from distributed import LocalCluster

    cluster = LocalCluster(
        processes=True,
        dashboard_address=":0",
        protocol="tcp",
        host="127.0.0.1",
        **_local_cluster_size(),
    )
    print(_READY, cluster.scheduler_address, flush=True)
    try:
        sys.stdin.buffer.read()
    finally:
        cluster.close(timeout=10)


if __name__ == "__main__":
    _serve_local_cluster()
