"""Process workers: Resources enforced, OOMError, ReusePolicy warm pools (DESIGN.md 9.1).

`ProcessExecutor` runs attempts in worker processes forked by the zygote and connected by
the worker channel (a unix socket). Per attempt:

1. `cpu` / `memory` are *requests* held in a `ResourceGate` sized to this machine: an
   attempt that does not fit waits (its action shows QUEUED); one that can never fit is
   refused at once. While an attempt waits on its own child calls it lends its CPUs
   back, so parents never starve their children.
2. A worker: with `reusable=ReusePolicy(replicas, concurrency, idle_ttl)`, one of up to
   `replicas` warm workers of that environment (each running up to `concurrency`
   attempts); otherwise a fresh process of its own. Either way its environment is the
   run's plus the task's env vars and secrets, isolated from every other worker.
3. Limits: a monitor thread reads each limited worker's RSS from `/proc/PID/statm` every
   20 ms (cheaper than psutil's object per read, and it works for processes that are not
   our children); over the limit, the worker is killed and its attempts fail with
   `OOMError`. psutil is the fallback where there is no /proc (macOS).
4. Timeouts and aborts kill the worker for real; a worker that dies fails its attempts
   with a `RuntimeSystemError` naming the exit code or signal (the zygote, its parent,
   reports how it ended); retries apply.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import functools
import itertools
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from flyte import _serde
from flyte._controller.calls import Call, Deadline
from flyte._controller.channel import (
    Channel,
    ChannelServer,
    attempt_context,
    load_task,
    pack_error,
    task_ref,
)
from flyte._options import parse_memory
from flyte.errors import (
    InvalidOptionError,
    OOMError,
    RuntimeSystemError,
    TaskTimeoutError,
)

if TYPE_CHECKING:
    from flyte._context import ActionContext
    from flyte._controller.executor import Attempt
    from flyte._controller.local import LocalController
    from flyte._controller.recorder import Placement
    from flyte._controller.state import RunState
    from flyte._options import Resources
    from flyte._task import TaskTemplate

__all__ = ["ProcessExecutor", "ResourceGate", "describe_exit", "machine_capacity"]

_MONITOR_INTERVAL = 0.02
# Store ops a body in a worker may write itself (flyte.report); nothing else is accepted.
_FORWARDED_OPS = frozenset({"report_put"})
_RETRY_KEEP = 120.0
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def machine_capacity() -> tuple[float, int]:
    """(CPUs this process may use, physical memory in bytes)."""
    try:
        cpus = float(len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS
        cpus = float(os.cpu_count() or 1)
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        memory = 1 << 40
    return cpus, int(memory)


def _queued_too_long(name: str, budget: float, waited_for: str, fix: str) -> TaskTimeoutError:
    """Timeout(max_queued_time=) passed while the attempt waited to start."""
    err = TaskTimeoutError(
        f"{name} waited in the queue longer than its max_queued_time of {budget:g}s "
        f"({waited_for}) and was not started; {fix}"
    )
    err.__flyte_traceback__ = f"TaskTimeoutError: {err}\n"  # type: ignore[attr-defined]
    return err


def describe_exit(code: int | None) -> str:
    """'exited with code 3' / 'was killed by signal SIGKILL (9)' for a worker's exit code."""
    if code is None:
        return "ended for an unknown reason"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by signal {name} ({-code})"
    return f"exited with code {code}"


def _rss(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        pass
    try:
        import psutil
    except ImportError:
        return None
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except Exception:
        return None


_dumps = pickle.dumps
_NO_REQUESTS = (0.0, 0, None)
_SEALED_HEADER = len(_serde.MAGIC) + _serde._MAC_BYTES


def _loads_value(blob: bytes) -> Any:
    """The value in a worker's sealed output blob (it came over the authenticated channel)."""
    if blob.startswith(_serde.MAGIC):
        return pickle.loads(memoryview(blob)[_SEALED_HEADER:])
    return _serde.channel_loads(blob)


def _requests(resources: Resources | None) -> tuple[float, int, int | None]:
    """(cpu request, memory request in bytes, memory limit in bytes or None)."""
    if resources is None:
        return _NO_REQUESTS
    try:
        return _requests_of(resources)
    except TypeError:  # a field that cannot be hashed (an unusual gpu spec): no memo
        return _requests_of.__wrapped__(resources)


@functools.lru_cache(maxsize=256)
def _requests_of(resources: Resources) -> tuple[float, int, int | None]:
    from flyte._options import _parse_cpu

    cpu = resources.cpu
    cpu_req = 0.0
    if cpu is not None:
        cpu_req = _parse_cpu(cpu[0] if isinstance(cpu, tuple) else cpu)
    mem = resources.memory
    if mem is None:
        return cpu_req, 0, None
    low = parse_memory(mem[0] if isinstance(mem, tuple) else mem)
    high = parse_memory(mem[-1] if isinstance(mem, tuple) else mem)
    return cpu_req, low, high


class ResourceGate:
    """CPU and memory requests of running attempts, never more than the machine holds.

    FIFO: the first waiter that does not fit blocks those behind it, so a big request is
    not starved by a stream of small ones. Lives on the controller's loop.
    """

    def __init__(self, cpus: float, memory: int) -> None:
        self.cpus = cpus
        self.memory = memory
        self.used_cpu = 0.0
        self.used_mem = 0
        self.peak_cpu = 0.0
        self._waiters: collections.deque[tuple[float, int, asyncio.Future[None]]] = (
            collections.deque()
        )

    def check(self, task_name: str, cpu: float, mem: int) -> None:
        """Raise for a request no amount of waiting can satisfy."""
        if cpu > self.cpus + 1e-9:
            raise InvalidOptionError(
                f"{task_name} asks for cpu={cpu:g} but this machine has {self.cpus:g} CPUs; "
                "lower its Resources(cpu=...) to at most that"
            )
        if mem > self.memory:
            raise InvalidOptionError(
                f"{task_name} asks for memory={mem / 2**20:.0f}Mi but this machine has "
                f"{self.memory / 2**20:.0f}Mi; lower its Resources(memory=...)"
            )

    def try_acquire(self, cpu: float, mem: int) -> bool:
        if self._waiters or not self._fits(cpu, mem):
            return False
        self._take(cpu, mem)
        return True

    async def acquire(self, cpu: float, mem: int) -> None:
        if self.try_acquire(cpu, mem):
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (cpu, mem, future)
        self._waiters.append(entry)
        try:
            await future
        except BaseException:
            if future.done() and not future.cancelled():
                self.release(cpu, mem)  # granted, then cancelled: give it back
            else:
                try:
                    self._waiters.remove(entry)
                except ValueError:
                    pass
                self._wake()
            raise

    def release(self, cpu: float, mem: int) -> None:
        self.used_cpu = max(0.0, self.used_cpu - cpu)
        self.used_mem = max(0, self.used_mem - mem)
        self._wake()

    def _fits(self, cpu: float, mem: int) -> bool:
        return self.used_cpu + cpu <= self.cpus + 1e-9 and self.used_mem + mem <= self.memory

    def _take(self, cpu: float, mem: int) -> None:
        self.used_cpu += cpu
        self.used_mem += mem
        self.peak_cpu = max(self.peak_cpu, self.used_cpu)

    def _wake(self) -> None:
        while self._waiters:
            cpu, mem, future = self._waiters[0]
            if future.done():
                self._waiters.popleft()
                continue
            if not self._fits(cpu, mem):
                return
            self._waiters.popleft()
            self._take(cpu, mem)
            future.set_result(None)


class _Worker:
    """One worker process as the controller sees it."""

    def __init__(self, wid: int, pool: _Pool | None, limit: int | None, concurrency: int) -> None:
        self.id = wid
        self.pool = pool
        self.limit = limit
        self.concurrency = concurrency
        self.pid: int | None = None
        self.channel: Channel | None = None
        self.ready: asyncio.Future[None] | None = None
        self.exited: asyncio.Future[int | None] | None = None
        self.running: dict[int, _Running] = {}
        self.active = 0  # len(running) minus those waiting on their own child calls
        self.known: set[str] = set()
        self.started_attempts = 0
        self.peak_rss = 0
        self.oom = False
        self.stopping: str | None = None  # why the controller killed it
        self.dead = False
        self.last_used = time.monotonic()

    @property
    def busy(self) -> int:
        """Attempts running on it that are not just waiting on their own child calls."""
        return self.active


class _Running:
    """An attempt in flight on a worker."""

    __slots__ = ("attempt", "calls", "cpu", "future", "key", "lent", "nested", "run", "worker")

    def __init__(self, key: int, attempt: Attempt, worker: _Worker, cpu: float) -> None:
        self.key = key
        self.attempt = attempt
        self.worker = worker
        self.run: RunState = attempt.context.run
        self.cpu = cpu
        self.nested = 0
        self.calls: set[asyncio.Task[Any]] = set()  # child actions its body is waiting on
        self.lent = False
        self.future: asyncio.Future[tuple[bool, Any, dict[str, Any]]] = (
            asyncio.get_running_loop().create_future()
        )


class _Pool:
    """Warm workers of one environment (ReusePolicy)."""

    def __init__(self, key: Any, replicas: int, concurrency: int, idle_ttl: float | None) -> None:
        self.key = key
        self.replicas = replicas
        self.concurrency = concurrency
        self.idle_ttl = idle_ttl
        self.workers: list[_Worker] = []
        self.starting = 0
        self.waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def free_worker(self, *, lent: bool = True) -> _Worker | None:
        """The least busy worker with room for an attempt, or None.

        An attempt waiting on its own child calls lends its slot (else a parent and its
        children could wait on each other forever), but the process is still the
        parent's: memory is shared, and a child's OOM there kills the parent too. With
        `lent=False` only slots that no attempt holds count, so the caller can start
        another replica first and lend only when the pool is full.
        """
        best: _Worker | None = None
        least = self.concurrency
        for worker in self.workers:
            if worker.dead or worker.stopping:
                continue
            busy = worker.busy if lent else len(worker.running)
            if busy < least:
                best, least = worker, busy
        return best

    def wake(self) -> None:
        while self.waiters:
            future = self.waiters.popleft()
            if not future.done():
                future.set_result(None)
                return

    def wake_all(self) -> None:
        waiters, self.waiters = self.waiters, collections.deque()
        for future in waiters:
            if not future.done():
                future.set_result(None)


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    if hasattr(value, "total_seconds"):
        return float(value.total_seconds())
    return float(value)


class ProcessExecutor:
    """Runs attempts in worker processes (see the module docstring).

    Example:
        flyte.init(executor="process")      # every body in a worker process
        env = flyte.TaskEnvironment("big", resources=flyte.Resources(memory="2Gi"))
    """

    name = "process"

    def __init__(self, controller: LocalController) -> None:
        self.controller = controller
        self.loop = controller.loop
        cpus, memory = machine_capacity()
        self.gate = ResourceGate(cpus, memory)
        self._lock = threading.Lock()
        self._server: ChannelServer | None = None
        self._zygote: subprocess.Popen[bytes] | None = None
        self._zygote_channel: Channel | None = None
        self._zygote_ready = threading.Event()
        self._ids = itertools.count(1)
        self._keys = itertools.count(1)
        self._workers: dict[int, _Worker] = {}
        self._by_pid: dict[int, _Worker] = {}
        self._exits: dict[int, tuple[int, int]] = {}
        self._running: dict[int, _Running] = {}
        self._pools: dict[Any, _Pool] = {}
        self._pool_memo: dict[tuple[int, int], tuple[Any, dict[str, str], _Pool]] = {}
        # (run, action) -> the isolated worker its failed attempt ran in, for the retry.
        self._retry_workers: dict[tuple[str, str], _Worker] = {}
        self._monitor_wake = threading.Event()
        self._closed = False
        self._reaper: asyncio.TimerHandle | None = None
        self._monitor = threading.Thread(target=self._watch_memory, name="flyte-oom", daemon=True)
        self._monitor.start()
        atexit.register(self.shutdown)

    # -- one attempt ---------------------------------------------------------------

    async def run_attempt(self, attempt: Attempt) -> Any:
        task = attempt.task
        child = attempt.context
        run = child.run
        cpu, mem, limit = _requests(task.resources)
        gate = self.gate
        queued = 0.0
        budget = task.timeout.queued_seconds if task.timeout is not None else None
        # Timeout(max_queued_time=) bounds the wait for CPU/memory and for a warm worker.
        queue_deadline = None if budget is None else time.monotonic() + budget
        # A request of nothing neither waits nor changes what others wait for: no gate.
        if (cpu or mem or gate._waiters) and not gate.try_acquire(cpu, mem):
            gate.check(task.name, cpu, mem)
            run.recorder.action_queued(run.name, child.action_id, child.attempt)
            waited = time.monotonic()
            if budget is None:
                await gate.acquire(cpu, mem)
            else:
                try:
                    await asyncio.wait_for(gate.acquire(cpu, mem), budget)
                except TimeoutError:
                    held = f"for cpu={cpu:g}, memory={mem / 2**20:.0f}Mi that other tasks held"
                    raise _queued_too_long(
                        task.name, budget, held, "raise max_queued_time or lower its Resources"
                    ) from None
            queued = time.monotonic() - waited
            run.recorder.action_running(run.name, child.action_id, child.attempt)
        running: _Running | None = None
        try:
            # A warm worker with room: taken now, no coroutine (the fan-out's common case).
            worker = None
            if task.reusable is not None:
                worker = self._pool_for(run, task, limit).free_worker(lent=False)
            if worker is None:
                worker = await self._worker_for(child, task, limit, queue_deadline)
            running = _Running(next(self._keys), attempt, worker, cpu)
            reused = worker.started_attempts > 0
            worker.started_attempts += 1
            worker.running[running.key] = running
            worker.active += 1
            self._running[running.key] = running
            placement: Placement = {
                "worker": "process",
                "pid": worker.pid or 0,
                "reused": reused,
            }
            if queued:
                placement["queued_s"] = round(queued, 3)
            attempt.placement = placement
            self._send_attempt(worker, running)
            info: dict[str, Any] = {}
            try:
                if attempt.timeout is None:
                    ok, payload, info = await running.future
                else:
                    done, _ = await asyncio.wait({running.future}, timeout=attempt.timeout)
                    if not done:
                        self._kill(worker, "timeout")
                        raise Deadline("")
                    ok, payload, info = running.future.result()
            except asyncio.CancelledError:
                self._kill(worker, "abort")
                raise
            finally:
                peak = info.get("peak_rss") or worker.peak_rss
                if peak:
                    placement["peak_rss"] = int(peak)
            if not ok:
                raise payload
            blob, out_json = payload
            attempt.blob = blob
            attempt.out_json = out_json
            return _loads_value(blob)
        finally:
            if running is not None:
                self._detach(running)
                if running.lent:
                    running.lent = False
                    if mem:
                        gate.release(0, mem)
                elif cpu or mem:
                    gate.release(cpu, mem)
            elif cpu or mem:
                gate.release(cpu, mem)

    def _detach(self, running: _Running) -> None:
        # A body stopped (abort, timeout, death) while waiting on children: stop them too.
        for call in running.calls:
            call.cancel()
        worker = running.worker
        self._running.pop(running.key, None)
        if worker.running.pop(running.key, None) is not None and running.nested == 0:
            worker.active -= 1
        worker.last_used = time.monotonic()
        if worker.pool is None:
            attempt = running.attempt
            child = attempt.context
            retries_left = child.attempt <= attempt.task.retries.count
            future = running.future
            failed_in_body = future.done() and not future.cancelled() and not future.result()[0]
            if retries_left and failed_in_body and not (worker.dead or worker.stopping):
                # The action's next attempt runs in this process: module state persists
                # across retries, as in upstream's local mode (a crash gets a new one).
                self._retry_workers[(child.run.name, child.action_id)] = worker
                self._schedule_reaper()
                return
            self._retire(worker)
        else:
            if worker.dead or worker.stopping:
                self._forget(worker)
            worker.pool.wake()

    def _send_attempt(self, worker: _Worker, running: _Running) -> None:
        attempt = running.attempt
        child = attempt.context
        run = child.run
        task_key, ref = task_ref(attempt.task)
        send_ref: Any = None if task_key in worker.known else ref
        worker.known.add(task_key)
        try:
            # Plain pickle: the channel is authenticated, a seal would only be checked
            # and dropped by the worker (`unsealed`).
            payload = _dumps((attempt.args, attempt.kwargs), 5)
            if b"__main__" in payload:
                # Functions and classes of the driver's script go by reference, and the
                # worker's __main__ is not that script: cloudpickle sends them by value.
                import cloudpickle

                payload = cloudpickle.dumps((attempt.args, attempt.kwargs), protocol=5)
        except Exception:  # cloudpickle for closures; or a SerializationError naming them
            payload = _serde.dumps(
                (attempt.args, attempt.kwargs), what=f"the inputs of {attempt.task.name}"
            )
        context = attempt_context(run, child)
        assert worker.channel is not None
        try:
            worker.channel.send_soon(
                ("run", running.key, task_key, send_ref, payload, context), self.loop
            )
        except OSError:
            pass  # the worker died: its EOF fails the attempt with the exit code

    # -- workers -------------------------------------------------------------------

    async def _worker_for(
        self,
        child: ActionContext,
        task: TaskTemplate[Any, Any],
        limit: int | None,
        queue_deadline: float | None = None,
    ) -> _Worker:
        run = child.run
        extra = {**run.options.env_vars, **task.env_values}
        if task.reusable is None:
            kept = self._retry_workers.pop((run.name, child.action_id), None)
            if kept is not None and not (kept.dead or kept.stopping or kept.oom):
                return kept
            return await self._spawn(run, extra, limit, None)
        pool = self._pool_for(run, task, limit)
        while True:
            worker = pool.free_worker(lent=False)
            if worker is not None:
                return worker
            if len(pool.workers) + pool.starting < pool.replicas:
                pool.starting += 1
                try:
                    worker = await self._spawn(run, extra, limit, pool)
                except BaseException:
                    pool.starting -= 1
                    pool.wake_all()  # a waiter starts the worker this one could not
                    raise
                pool.starting -= 1
                pool.workers.append(worker)
                # The new worker has room for `concurrency` attempts, not one: every waiter
                # looks again (those that find no room wait again, in order).
                pool.wake_all()
                self._schedule_reaper()
                return worker
            worker = pool.free_worker()  # the pool is full: a waiting parent lends its slot
            if worker is not None:
                return worker
            future: asyncio.Future[None] = self.loop.create_future()
            pool.waiters.append(future)
            if queue_deadline is None:
                await future
                continue
            try:
                await asyncio.wait_for(future, max(queue_deadline - time.monotonic(), 0.0))
            except TimeoutError:
                budget = task.timeout.queued_seconds if task.timeout is not None else 0.0
                busy = f"all {pool.replicas} workers of its reusable environment were busy"
                raise _queued_too_long(
                    task.name, budget or 0.0, busy, "raise max_queued_time or the replicas"
                ) from None

    def _pool_for(self, run: RunState, task: TaskTemplate[Any, Any], limit: int | None) -> _Pool:
        """The warm pool `task` runs in within `run` (remembered per task and run env)."""
        env_vars = run.options.env_vars
        memo = self._pool_memo.get((id(task), id(env_vars)))
        # The memo holds the task and the dict it was computed for: an id reused by
        # another object after those were freed never matches.
        if memo is not None and memo[0] is task and memo[1] is env_vars:
            return memo[2]
        policy = task.reusable
        assert policy is not None
        extra = {**env_vars, **task.env_values}
        replicas = policy.replicas[-1] if isinstance(policy.replicas, tuple) else policy.replicas
        key = (task.env_name, replicas, policy.concurrency, limit, tuple(sorted(extra.items())))
        pool = self._pools.get(key)
        if pool is None:
            ttl = _seconds(policy.idle_ttl) or _seconds(policy.scaledown_ttl)
            pool = self._pools[key] = _Pool(key, replicas, policy.concurrency, ttl)
        if len(self._pool_memo) > 1024:
            self._pool_memo.clear()
        self._pool_memo[(id(task), id(env_vars))] = (task, env_vars, pool)
        return pool

    async def _spawn(
        self, run: RunState, extra: dict[str, str], limit: int | None, pool: _Pool | None
    ) -> _Worker:
        if self._zygote_channel is None:
            await self.loop.run_in_executor(None, self._start)
        assert self._zygote_channel is not None
        concurrency = pool.concurrency if pool is not None else 1
        worker = _Worker(next(self._ids), pool, limit, concurrency)
        worker.ready = self.loop.create_future()
        worker.exited = self.loop.create_future()
        self._workers[worker.id] = worker
        env = run.base_environ()
        # Secrets are isolated too: a worker sees only its own task's, as their env vars.
        for key in [k for k in env if k.startswith("FLYTE_SECRET_")]:
            del env[key]
        env.update(extra)
        self._zygote_channel.send(("fork", worker.id, env, list(sys.path), os.getcwd()))
        try:
            await worker.ready
        except BaseException:
            self._kill(worker, "abort")
            self._forget(worker)
            raise
        if limit is not None:
            self._monitor_wake.set()
        return worker

    def _start(self) -> None:
        """Start the channel server and the zygote (once; in a helper thread)."""
        with self._lock:
            if self._zygote_channel is not None:
                return
            if self._server is None:
                self._server = ChannelServer(self._on_connect)
            # The zygote imports flyte from wherever this process did, even when the
            # working directory holds another `flyte` (as `-m` would import first).
            root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
            boot = (
                f"import sys; sys.path.insert(0, {root!r}); "
                "from flyte._controller.zygote import main; main()"
            )
            self._zygote = subprocess.Popen(
                [sys.executable, "-c", boot, self._server.address],
                stdin=subprocess.PIPE,
                close_fds=True,
            )
            assert self._zygote.stdin is not None
            self._zygote.stdin.write(self._server.authkey.hex().encode() + b"\n")
            self._zygote.stdin.close()
            deadline = time.monotonic() + 30
            while not self._zygote_ready.wait(0.05):
                if self._zygote.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeSystemError(
                        "the worker zygote (flyte._controller.zygote) did not start: "
                        f"it {describe_exit(self._zygote.poll())}"
                    )

    def _on_connect(self, channel: Channel, hello: tuple[Any, ...]) -> None:
        """A peer connected (accept thread): the zygote, or a worker saying hello."""
        if hello[0] == "zygote":
            self._zygote_channel = channel
            self._zygote_ready.set()
            self.loop.call_soon_threadsafe(self._attach, channel, None)
            return
        worker = self._workers.get(hello[1]) if hello[0] == "hello" else None
        if worker is None:
            channel.close()
            return
        worker.channel = channel
        worker.pid = hello[2]
        self._by_pid[hello[2]] = worker
        self.loop.call_soon_threadsafe(self._attach, channel, worker)

    def _attach(self, channel: Channel, worker: _Worker | None) -> None:
        """Read `channel` on the loop from now on (no reader thread, no thread hop)."""
        self.loop.add_reader(channel.fileno(), self._readable, channel, worker)
        if worker is not None:
            self._on_worker(worker, ("_ready",))
        self._readable(channel, worker)

    def _readable(self, channel: Channel, worker: _Worker | None) -> None:
        try:
            messages = channel.recv_nowait()
        except EOFError:
            self.loop.remove_reader(channel.fileno())
            messages = [("_eof",)]
        for message in messages:
            try:
                if worker is None:
                    self._on_zygote(message)
                else:
                    self._on_worker(worker, message)
            except Exception as exc:  # one bad message must not stop the others
                print(f"flyte: worker message {message[0]!r} failed: {exc!r}", file=sys.__stderr__)

    # -- messages (on the loop) ----------------------------------------------------

    def _on_zygote(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "forked":
            worker = self._workers.get(message[1])
            if worker is not None:
                worker.pid = message[2]
                self._by_pid[message[2]] = worker
                exit_ = self._exits.pop(message[2], None)
                if exit_ is not None:
                    self._exited(worker, *exit_)
        elif kind == "exited":
            _, pid, code, peak = message
            worker = self._by_pid.pop(pid, None)
            if worker is None:
                self._exits[pid] = (code, peak)
                return
            self._exited(worker, code, peak)
        elif kind == "_eof" and not self._closed:
            self._zygote_channel = None
            self._zygote_ready.clear()

    def _exited(self, worker: _Worker, code: int, peak: int) -> None:
        worker.peak_rss = max(worker.peak_rss, peak)
        if worker.exited is not None and not worker.exited.done():
            worker.exited.set_result(code)
        if worker.ready is not None and not worker.ready.done():
            worker.ready.set_exception(
                RuntimeSystemError(f"worker process {worker.pid} {describe_exit(code)} at start")
            )
        if worker.channel is None:
            self._worker_gone(worker)

    def _on_worker(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "done":  # the most frequent first
            _, key, ok, payload, info = message
            running = self._running.get(key)
            if running is None or running.future.done():
                return
            if ok:
                running.future.set_result((True, payload, info))
            else:
                from flyte._controller.channel import unpack_error

                exc = unpack_error(payload)
                if (
                    isinstance(exc, MemoryError)
                    and not isinstance(exc, OOMError)
                    and self._near_limit(running.worker)
                ):
                    # An allocation that failed close to the limit is the limit's doing; a
                    # MemoryError the body raised itself stays the user's own type.
                    exc = self._oom_error(running, str(exc) or "MemoryError")
                running.future.set_result((False, exc, info))
        elif kind == "log":
            _, key, run_name, action, attempt, stream, line, ts = message
            running = self._running.get(key)
            # Lines printed inside a trace carry the trace's id, not the attempt's key.
            run = running.run if running is not None else self._run_named(worker, run_name)
            if run is not None:
                run.recorder.log(run_name, action, attempt, stream, line, ts)
        elif kind == "trace":
            _, run_name, trace = message
            run = self._run_named(worker, run_name)
            if run is not None:
                run.record_trace(trace)
        elif kind == "trace_get":
            _, req, run_name, trace_id = message
            run = self._run_named(worker, run_name)
            found = run.trace_lookup(trace_id) if run is not None else None
            self._reply(worker, req, True, pickle.dumps(found, 5))
        elif kind == "put":
            _, run_name, op = message
            run = self._run_named(worker, run_name)
            if run is not None and op[0] in _FORWARDED_OPS:
                run.writer.put(op)
        elif kind == "call":
            self.loop.create_task(self._nested_call(worker, message))
        elif kind == "_ready":
            if worker.ready is not None and not worker.ready.done():
                worker.ready.set_result(None)
        elif kind == "_eof":
            self.loop.create_task(self._worker_died(worker))

    def _run_named(self, worker: _Worker, name: str) -> RunState | None:
        for running in worker.running.values():
            if running.run.name == name:
                return running.run
        return None

    def _reply(self, worker: _Worker, req: int, ok: bool, blob: bytes) -> None:
        if worker.channel is None or worker.dead:
            return
        try:
            worker.channel.send_soon(("reply", req, ok, blob), self.loop)
        except OSError:
            pass

    async def _nested_call(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        """A body in `worker` called a task: run it here as a child action; reply."""
        _, req, key, task_key, ref, payload, _call_id, seq, group = message
        running = self._running.get(key)
        if running is None:
            return
        parent: ActionContext = running.attempt.context
        me = asyncio.current_task()
        assert me is not None
        running.calls.add(me)
        running.nested += 1
        if running.nested == 1:
            if running.key in worker.running:
                worker.active -= 1
            if running.cpu and not running.lent:
                running.lent = True
                self.gate.release(running.cpu, 0)
            if worker.pool is not None:
                worker.pool.wake()
        try:
            task = load_task(task_key, ref)
            args, kwargs = pickle.loads(_serde.unsealed(payload))
            call = Call.remote(task, parent, args, kwargs, seq, group)
            value = await self.controller._run_action(task, call, args, kwargs, run=parent.run)
            blob, ok = _serde.dumps(value, what=f"the output of {task.name}"), True
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # the child's error goes back to the body that called
            blob, ok = pack_error(exc), False
        finally:
            running.calls.discard(me)
            running.nested -= 1
            if running.nested == 0 and running.key in worker.running:
                worker.active += 1
        if running.nested == 0 and running.lent and not running.future.done():
            await self.gate.acquire(running.cpu, 0)
            running.lent = False
        self._reply(worker, req, ok, blob)

    async def _worker_died(self, worker: _Worker) -> None:
        """The worker's channel closed: fail what ran on it, naming how it ended."""
        worker.dead = True
        code: int | None = None
        if worker.exited is not None:
            try:
                code = await asyncio.wait_for(asyncio.shield(worker.exited), 2.0)
            except asyncio.TimeoutError:
                code = None
        self._worker_gone(worker, code)

    def _worker_gone(self, worker: _Worker, code: int | None = None) -> None:
        worker.dead = True
        if worker.ready is not None and not worker.ready.done():
            worker.ready.set_exception(
                RuntimeSystemError(f"worker process {worker.pid} {describe_exit(code)} at start")
            )
        for running in list(worker.running.values()):
            if running.future.done():
                continue
            if worker.oom:
                exc: BaseException = self._oom_error(running, None)
            elif worker.stopping in ("timeout", "abort"):
                exc = RuntimeSystemError(
                    f"worker process {worker.pid} was stopped ({worker.stopping})"
                )
            else:
                exc = RuntimeSystemError(
                    f"the worker process (pid {worker.pid}) running {running.attempt.task.name} "
                    f"{describe_exit(code)}"
                )
            running.future.set_result((False, exc, {"peak_rss": worker.peak_rss or None}))
        self._forget(worker)

    @staticmethod
    def _near_limit(worker: _Worker) -> bool:
        """Whether a worker with a memory limit used at least 90% of it."""
        return bool(worker.limit and worker.peak_rss and worker.peak_rss >= 0.9 * worker.limit)

    def _oom_error(self, running: _Running, detail: str | None) -> OOMError:
        worker = running.worker
        limit = worker.limit
        task = running.attempt.task
        mem = task.resources.memory if task.resources is not None else None
        shown = mem[-1] if isinstance(mem, tuple) else mem
        peak = f"; peak {worker.peak_rss / 2**20:.0f}Mi" if worker.peak_rss else ""
        what = f"over its memory limit of {shown}" if limit else "out of memory"
        extra = f" ({detail})" if detail else ""
        return OOMError(
            f"{task.name} ran {what}{peak}{extra}; the worker was stopped. "
            "Ask for more with .override(resources=flyte.Resources(memory=...))"
        )

    # -- stopping workers ----------------------------------------------------------

    def _kill(self, worker: _Worker, why: str) -> None:
        worker.stopping = worker.stopping or why
        if worker.pid is not None and not worker.dead:
            try:
                os.kill(worker.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def _retire(self, worker: _Worker) -> None:
        """An isolated worker after its one attempt: let it go."""
        if worker.running:
            return
        if not worker.dead and worker.channel is not None:
            try:
                worker.channel.send_soon(("exit",), self.loop)
            except OSError:
                pass
        self._forget(worker)

    def _forget(self, worker: _Worker) -> None:
        self._workers.pop(worker.id, None)
        if worker.pool is not None and worker in worker.pool.workers:
            worker.pool.workers.remove(worker)
            worker.pool.wake()
        if worker.channel is not None and worker.dead:
            worker.channel.close()

    def _schedule_reaper(self) -> None:
        if self._reaper is None:
            self._reaper = self.loop.call_later(0.25, self._reap_idle)

    def _reap_idle(self) -> None:
        """Warm workers idle longer than their pool's idle_ttl exit."""
        self._reaper = None
        now = time.monotonic()
        alive = False
        for key, worker in list(self._retry_workers.items()):
            # A retry that never came (its run aborted or failed meanwhile).
            if now - worker.last_used > _RETRY_KEEP:
                del self._retry_workers[key]
                self._retire(worker)
            else:
                alive = True
        for pool in list(self._pools.values()):
            for worker in list(pool.workers):
                if (
                    pool.idle_ttl is not None
                    and not worker.running
                    and now - worker.last_used >= pool.idle_ttl
                ):
                    worker.stopping = "idle"
                    if worker.channel is not None:
                        try:
                            worker.channel.send_soon(("exit",), self.loop)
                        except OSError:
                            pass
                    pool.workers.remove(worker)
                    self._workers.pop(worker.id, None)
                elif pool.idle_ttl is not None:
                    alive = True
        if alive:
            self._schedule_reaper()

    def pids(self) -> list[int]:
        """The pids of the live worker processes (for tests and the CLI)."""
        return [w.pid for w in self._workers.values() if w.pid is not None and not w.dead]

    def shutdown(self) -> None:
        """Stop every worker and the zygote."""
        if self._closed:
            return
        self._closed = True
        self._monitor_wake.set()
        for worker in list(self._workers.values()):
            if worker.pid is not None:
                try:
                    os.kill(worker.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        if self._zygote is not None and self._zygote.poll() is None:
            self._zygote.kill()
            try:
                self._zygote.wait(5)
            except subprocess.TimeoutExpired:
                pass
        if self._server is not None:
            self._server.close()

    # -- memory --------------------------------------------------------------------

    def _watch_memory(self) -> None:
        """Kill workers over their memory limit (a thread: works while the loop is busy)."""
        while not self._closed:
            limited = [w for w in list(self._workers.values()) if w.limit and w.pid and not w.dead]
            if not limited:
                self._monitor_wake.wait(1.0)
                self._monitor_wake.clear()
                continue
            for worker in limited:
                rss = _rss(worker.pid)  # type: ignore[arg-type]
                if rss is None:
                    continue
                if rss > worker.peak_rss:
                    worker.peak_rss = rss
                if worker.limit is not None and rss > worker.limit and not worker.oom:
                    worker.oom = True
                    self._kill(worker, "oom")
            time.sleep(_MONITOR_INTERVAL)
