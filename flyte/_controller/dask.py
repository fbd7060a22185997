"""The Dask executor: task bodies run on a Dask cluster; the controller and store stay here.

`DaskExecutor` implements the `Executor` protocol (`executor.py`). Per attempt:

1. The task's `Resources` become Dask worker resources where the workers declare them
   (`dask_cluster.plan_resources`); what no worker declares is recorded with a note.
2. `Client.submit(run_on_worker, ..., key=<unique per attempt>, pure=False)`: on a worker,
   `dask_worker.run_on_worker` connects back to this process over the worker channel
   (TCP), claims the attempt and runs the body; its log lines, traces and task calls come
   back as channel messages, handled here exactly as for process workers, so the run
   tree, cache, recovery and logs are the same as for a local run. The outcome arrives as
   a `done` message; the Dask result only says how the worker side ended.
3. Faults: a worker's channel closing mid-attempt means its process died: the attempt
   fails with `OOMError` when Dask's nanny killed it for memory (its
   `worker-restart-memory` event), else with a `RuntimeSystemError`; retries then run on
   whichever worker Dask picks. A lost scheduler fails every attempt in flight with
   `ExecutorLostError` (not retried): the run ends FAILED and `rerun --recover` finishes it.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import itertools
import os
import pickle
import secrets
import socket
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
from flyte._controller.dask_cluster import DaskCluster, ResourcePlan, open_cluster, plan_resources
from flyte.errors import ExecutorLostError, OOMError, RuntimeSystemError

if TYPE_CHECKING:
    from flyte._context import ActionContext
    from flyte._controller.executor import Attempt
    from flyte._controller.local import LocalController
    from flyte._controller.recorder import Placement
    from flyte._controller.state import RunState
    from flyte._task import TaskTemplate

__all__ = ["DaskExecutor", "callback_host", "no_delay"]

# How long a vanished worker's memory-kill event may take to reach us (nanny -> scheduler
# -> client) before the death is reported as a plain crash.
_OOM_EVENT_WAIT = 2.0
# Declared worker resources are re-read at most this often (workers come and go).
_RESOURCES_TTL = 5.0
# How often attempts in flight are checked for Dask-side failures (a lost scheduler, a task
# that failed before its body started). A done-callback per future costs the driver a
# coroutine and a thread hop per attempt; a periodic look at the futures' status does not.
_WATCH_INTERVAL = 0.25


def callback_host(scheduler_address: str) -> str:
    """The address Dask workers use to reach this process's worker channel.

    `$FLYTE_DASK_CALLBACK_HOST` when set; 127.0.0.1 for a scheduler on this machine;
    else the local address of the interface that routes to the scheduler.
    """
    chosen = os.environ.get("FLYTE_DASK_CALLBACK_HOST")
    if chosen:
        return chosen
    host = scheduler_address.split("://", 1)[-1].rpartition(":")[0].strip("[]")
    if not host or host == "localhost" or host.startswith("127.") or host == "::1":
        return "127.0.0.1"
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((host, 9))  # no packet is sent: this only picks the route
            return str(probe.getsockname()[0])
    except OSError:
        return socket.gethostbyname(socket.gethostname())


def no_delay(channel: Channel) -> None:
    """Turn Nagle's algorithm off on a TCP channel.

    Channel messages are small requests and replies: with Nagle on, a reply sent while
    the peer delays its ACK waits ~40 ms, which made every claim and nested call that slow.
    """
    try:
        sock = socket.socket(fileno=os.dup(channel.fileno()))
    except OSError:
        return
    try:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    finally:
        sock.close()


class _Link:
    """One Dask worker process's channel, as the driver sees it."""

    __slots__ = ("address", "channel", "dead", "pid", "running")

    def __init__(self, channel: Channel, pid: int, address: str | None) -> None:
        self.channel = channel
        self.pid = pid
        self.address = address
        self.running: set[int] = set()
        self.dead = False


class _Running:
    """An attempt submitted to Dask, from submit to outcome."""

    __slots__ = (
        "attempt",
        "checking",
        "claimed",
        "closed",
        "dask_future",
        "future",
        "key",
        "link",
        "run",
    )

    def __init__(self, key: int, attempt: Attempt, loop: asyncio.AbstractEventLoop) -> None:
        self.key = key
        self.attempt = attempt
        self.run: RunState = attempt.context.run
        self.link: _Link | None = None
        self.claimed = False
        self.closed = False  # settled, stopped or gone: a claim must be refused
        self.checking = False
        self.dask_future: Any = None
        self.future: asyncio.Future[tuple[bool, Any]] = loop.create_future()

    def settle(self, ok: bool, payload: Any) -> None:
        self.closed = True
        if not self.future.done():
            self.future.set_result((ok, payload))


class DaskExecutor:
    """Runs attempts on a Dask cluster (see the module docstring).

    Example:
        flyte.init(executor="dask://127.0.0.1:8786")   # or "dask", or a distributed.Client
        run = flyte.run(main, n=100)                     # every body runs on a Dask worker
    """

    name = "dask"

    def __init__(self, spec: Any, controller: LocalController) -> None:
        self.spec = spec
        self.controller = controller
        self.loop = controller.loop
        self.cluster: DaskCluster | None = None
        self._server: ChannelServer | None = None
        self._opening: asyncio.Lock | None = None
        self._address: tuple[str, int] = ("127.0.0.1", 0)
        self._keys = itertools.count(1)
        self._token = secrets.token_hex(4)
        self._running: dict[int, _Running] = {}
        self._links: list[_Link] = []
        self._inbox: collections.deque[tuple[_Link | None, tuple[Any, ...]]] = collections.deque()
        self._inbox_lock = threading.Lock()
        self._drain_due = False  # a `_drain` is scheduled and has not yet emptied the inbox
        self._declared: tuple[float, dict[str, float]] | None = None
        self._plans: dict[tuple[str, int], ResourcePlan] = {}
        self._noted: set[tuple[str, str]] = set()
        self.lost: str | None = None
        self._watch: asyncio.TimerHandle | None = None
        self._to_submit: list[tuple[_Running, bytes, str, dict[str, float]]] = []
        # Claims are granted on channel reader threads; this orders them with _stop.
        self._claims = threading.Lock()
        self._closed = False
        atexit.register(self.shutdown)

    # -- opening -------------------------------------------------------------------

    async def _ready(self) -> tuple[DaskCluster, ChannelServer]:
        if self.cluster is None or self.cluster.closed or self._server is None:
            if self._opening is None:
                self._opening = asyncio.Lock()
            async with self._opening:
                if self.cluster is None or self.cluster.closed:
                    # (Re)open: `open_cluster` gives the process's cluster for this spec,
                    # a new one if the previous was closed (tests, a restarted scheduler).
                    # Starting a LocalCluster takes seconds: not on the controller's loop.
                    self.cluster = await self.loop.run_in_executor(None, open_cluster, self.spec)
                if self._server is None:
                    host = callback_host(self.cluster.address)
                    try:
                        server = ChannelServer(self._on_connect, family="AF_INET", host=host)
                    except OSError:  # not an address of this machine (NAT, a DNS name)
                        server = ChannelServer(self._on_connect, family="AF_INET", host="0.0.0.0")
                    # What workers connect to: the callback host, on the port bound here.
                    self._address = (host, server.address[1])
                    self._server = server
        return self.cluster, self._server

    def _plan(self, cluster: DaskCluster, task: TaskTemplate[Any, Any]) -> ResourcePlan:
        resources = task.resources
        if resources is None:
            return ResourcePlan({}, [])
        key = (task.name, id(resources))
        plan = self._plans.get(key)
        if plan is None:
            now = self.loop.time()
            if self._declared is None or now - self._declared[0] > _RESOURCES_TTL:
                self._declared = (now, cluster.worker_resources())
            plan = plan_resources(task.name, resources, self._declared[1])
            if len(self._plans) > 1024:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    # -- one attempt ---------------------------------------------------------------

    async def run_attempt(self, attempt: Attempt) -> Any:
        cluster, server = await self._ready()
        client = cluster.client
        if self.lost is not None:
            if client.status != "running":
                raise ExecutorLostError(self.lost)
            self.lost = None  # the client reconnected to a scheduler meanwhile
        task = attempt.task
        child = attempt.context
        run = child.run
        plan = self._plan(cluster, task)
        placement: Placement = {"worker": "dask"}
        note = plan.note()
        if note:
            placement["note"] = note
            if (run.name, child.action_id) not in self._noted:
                self._noted.add((run.name, child.action_id))
                run.recorder.log(
                    run.name, child.action_id, child.attempt, "log", f"flyte: {note}", time.time()
                )
        attempt.placement = placement
        key = next(self._keys)
        running = _Running(key, attempt, self.loop)
        self._running[key] = running
        task_key, ref = task_ref(task)
        payload = _serde.dumps((attempt.args, attempt.kwargs), what=f"the inputs of {task.name}")
        context = attempt_context(run, child)
        from flyte._store import flyte_home

        env = {**run.options.env_vars, **task.env_values, "FLYTE_HOME": str(flyte_home())}
        try:
            spec = pickle.dumps(
                (
                    self._address,
                    server.authkey,
                    key,
                    task_key,
                    ref,
                    payload,
                    context,
                    env,
                    bool(plan.dask),
                ),
                5,
            )
            self._queue_submit(
                running,
                spec,
                f"flyte-{task.name}-{run.name}-{child.action_id}-{child.attempt}-"
                f"{self._token}-{key}",
                plan.dask,
            )
            try:
                if attempt.timeout is None:
                    ok, outcome = await asyncio.shield(running.future)
                else:
                    done, _ = await asyncio.wait({running.future}, timeout=attempt.timeout)
                    if not done:
                        self._stop(running)
                        raise Deadline("")
                    ok, outcome = running.future.result()
            except asyncio.CancelledError:
                self._stop(running)
                raise
        finally:
            with self._claims:
                running.closed = True
                self._running.pop(key, None)
            if running.link is not None:
                running.link.running.discard(key)
                placement["pid"] = running.link.pid
                if running.link.address:
                    placement["address"] = running.link.address
            if running.dask_future is not None:
                running.dask_future.release()
                running.dask_future = None
        if not ok:
            raise outcome
        blob, out_json = outcome
        attempt.blob = blob
        attempt.out_json = out_json
        return _serde.channel_loads(blob)

    def _queue_submit(
        self, running: _Running, spec: bytes, key: str, resources: dict[str, float]
    ) -> None:
        """Submit at the end of this loop iteration, with every attempt queued meanwhile.

        One `Client.map` of many attempts is one graph message to the scheduler instead of
        one per attempt: a fan-out's children, which reach the controller together, cost
        Dask far less than as many `Client.submit` calls.
        """
        self._to_submit.append((running, spec, key, resources))
        if len(self._to_submit) == 1:
            self.loop.call_soon(self._submit_queued)

    def _submit_queued(self) -> None:
        batch, self._to_submit = self._to_submit, []
        groups: dict[tuple[tuple[str, float], ...], list[Any]] = {}
        for item in batch:
            if item[0].key in self._running:  # not aborted or timed out before this
                groups.setdefault(tuple(sorted(item[3].items())), []).append(item)
        if not groups:
            return
        assert self.cluster is not None
        client = self.cluster.client
        from flyte._controller.dask_worker import run_on_worker

        for resources, items in groups.items():
            try:
                futures = client.map(
                    run_on_worker,
                    [item[1] for item in items],
                    key=[item[2] for item in items],
                    pure=False,
                    resources=dict(resources) or None,
                )
            except Exception as exc:  # a closed client, a scheduler gone meanwhile
                for item in items:
                    item[0].settle(False, RuntimeSystemError(f"could not submit to Dask: {exc}"))
                continue
            for item, future in zip(items, futures, strict=True):
                item[0].dask_future = future
        self._ensure_watch()

    def _stop(self, running: _Running) -> None:
        """Timeout or abort: stop the body where it runs (Dask cannot kill a task)."""
        with self._claims:
            running.closed = True
            link = running.link
        if link is not None and not link.dead:
            try:
                link.channel.send(("cancel", running.key))
            except OSError:
                pass
        if running.dask_future is not None:
            running.dask_future.release()
            running.dask_future = None

    def _ensure_watch(self) -> None:
        if self._watch is None:
            self._watch = self.loop.call_later(_WATCH_INTERVAL, self._watchdog)

    def _watchdog(self) -> None:
        """Look for attempts whose Dask task failed or was cancelled (on the loop)."""
        self._watch = None
        if not self._running:
            return
        for running in list(self._running.values()):
            future = running.dask_future
            if future is None or running.future.done() or running.checking:
                continue
            if future.status in ("error", "cancelled", "lost"):
                running.checking = True
                self.loop.run_in_executor(None, self._dask_finished, running.key, future)
        self._ensure_watch()

    def _dask_finished(self, key: int, future: Any) -> None:
        """Read why a Dask task failed (in a helper thread: it may wait on the client)."""
        status = future.status
        if status == "finished":
            return  # the outcome came (or comes) as a `done` message on the channel
        try:
            exc = future.exception(timeout=5)
        except BaseException as raised:  # a cancelled future raises its reason
            exc = raised
        self._post(None, ("_dask_failed", key, status, exc))

    def _dask_error(self, running: _Running, status: str, exc: BaseException | None) -> Any:
        reason = getattr(exc, "reason", "") or ""
        assert self.cluster is not None
        address = self.cluster.address
        if status == "cancelled" and (
            "connection" in reason or self.cluster.client.status != "running"
        ):
            self.lost = (
                f"lost the Dask scheduler at {address} ({reason or 'connection closed'}); "
                f"the run stopped here: finish it with `flyte rerun {running.run.name} "
                "--recover` once the cluster is back"
            )
            return ExecutorLostError(self.lost)
        name = running.attempt.task.name
        if type(exc).__name__ == "KilledWorker":
            return RuntimeSystemError(
                f"Dask workers kept dying before {name} could start ({exc}); see the workers' logs"
            )
        if status == "cancelled":
            return RuntimeSystemError(
                f"the Dask task running {name} was cancelled ({reason or 'no reason given'})"
            )
        return RuntimeSystemError(
            f"a Dask worker could not run {name}: {type(exc).__name__}: {exc}; the workers "
            f"must reach this process at {self._address[0]}:{self._address[1]} "
            "(set FLYTE_DASK_CALLBACK_HOST to an address they can reach)"
        )

    # -- the worker channel --------------------------------------------------------

    def _on_connect(self, channel: Channel, hello: tuple[Any, ...]) -> None:
        """A Dask worker process connected (accept thread)."""
        if hello[0] != "hello" or hello[1] != "dask":
            channel.close()
            return
        no_delay(channel)
        link = _Link(channel, int(hello[2]), hello[3])
        self._links.append(link)

        def read() -> None:
            while True:
                try:
                    message = channel.recv()
                except (EOFError, OSError):
                    self._post(link, ("_eof",))
                    return
                if message[0] == "claim":
                    # Answered here, not on the loop: the worker's Dask thread waits for
                    # it, so each loop hop saved is a worker thread's time saved per task.
                    self._claim(link, message[1], message[2])
                else:
                    self._post(link, message)

        threading.Thread(target=read, name=f"flyte-dask-{link.pid}", daemon=True).start()

    def _post(self, link: _Link | None, message: tuple[Any, ...]) -> None:
        """Queue a message for the loop (from a channel's reader thread or a helper).

        Under the lock, one `_drain` is scheduled per batch: two threads posting at once
        used to find each other's message queued and both leave waking the loop to the
        other, and the attempts waited for it forever.
        """
        with self._inbox_lock:
            self._inbox.append((link, message))
            if self._drain_due:
                return
            self._drain_due = True
        try:
            self.loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # the loop is closed: the process is exiting
            pass

    def _drain(self) -> None:
        while True:
            with self._inbox_lock:
                if not self._inbox:
                    self._drain_due = False  # the next post schedules the next drain
                    return
                batch = list(self._inbox)
                self._inbox.clear()
            for link, message in batch:
                try:
                    self._on_message(link, message)
                except Exception as exc:
                    print(
                        f"flyte: dask message {message[0]!r} failed: {exc!r}", file=sys.__stderr__
                    )

    def _on_message(self, link: _Link | None, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "log":
            _, key, run_name, action, attempt, stream, line, ts = message
            running = self._running.get(key)
            # Lines printed inside a trace carry the trace's id, not the attempt's key.
            run = running.run if running is not None else self._run_named(run_name)
            if run is not None:
                run.recorder.log(run_name, action, attempt, stream, line, ts)
        elif kind == "done":
            _, key, ok, payload, _info = message
            running = self._running.get(key)
            if running is None or running.future.done():
                return
            if ok:
                running.settle(True, payload)
            else:
                from flyte._controller.channel import unpack_error

                # A MemoryError the body raised stays what it is: Dask limits memory by
                # killing the worker (see _link_died), not by raising in the body.
                running.settle(False, unpack_error(payload))
        elif kind == "trace":
            _, run_name, trace = message
            run = self._run_named(run_name)
            if run is not None:
                run.record_trace(trace)
        elif kind == "trace_get":
            assert link is not None
            _, req, run_name, trace_id = message
            run = self._run_named(run_name)
            found = run.trace_lookup(trace_id) if run is not None else None
            self._reply(link, req, True, pickle.dumps(found, 5))
        elif kind == "put":  # a body's own store writes (reports)
            from flyte._controller.process import _FORWARDED_OPS

            _, run_name, op = message
            run = self._run_named(run_name)
            if run is not None and op[0] in _FORWARDED_OPS:
                run.writer.put(op)
        elif kind == "call":
            assert link is not None
            self.loop.create_task(self._nested_call(link, message))
        elif kind == "_dask_failed":
            _, key, status, exc = message
            running = self._running.get(key)
            if running is not None and not running.future.done():
                error = self._dask_error(running, status, exc)
                # A lost scheduler fails everything in flight at once, not one by one as
                # Dask's callbacks trickle in.
                victims = list(self._running.values()) if self.lost else [running]
                for victim in victims:
                    if not victim.future.done():
                        victim.settle(False, error)
                        self._stop(victim)
        elif kind == "_eof":
            assert link is not None
            self.loop.create_task(self._link_died(link))

    def _claim(self, link: _Link, req: int, key: int) -> None:
        """A worker asks to start attempt `key` (reader thread): yes exactly once."""
        with self._claims:
            running = self._running.get(key)
            granted = running is not None and not running.claimed and not running.closed
            if granted:
                assert running is not None
                running.claimed = True
                running.link = link
                link.running.add(key)
        self._reply(link, req, True, pickle.dumps(granted, 5))

    def _run_named(self, name: str) -> RunState | None:
        for running in self._running.values():
            if running.run.name == name:
                return running.run
        return None

    def _reply(self, link: _Link, req: int, ok: bool, blob: bytes) -> None:
        if link.dead:
            return
        try:
            link.channel.send(("reply", req, ok, blob))
        except OSError:
            pass

    async def _nested_call(self, link: _Link, message: tuple[Any, ...]) -> None:
        """A body on a Dask worker called a task: run it here as a child action; reply."""
        _, req, key, task_key, ref, payload, _call_id, seq, group = message
        running = self._running.get(key)
        if running is None:
            self._reply(link, req, False, pack_error(RuntimeSystemError("attempt not found")))
            return
        parent: ActionContext = running.attempt.context
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
        self._reply(link, req, ok, blob)

    async def _link_died(self, link: _Link) -> None:
        """A worker's channel closed: its process died; fail what was running there."""
        link.dead = True
        if link in self._links:
            self._links.remove(link)
        link.channel.close()
        victims = [self._running[k] for k in link.running if k in self._running]
        if not victims:
            return
        cluster = self.cluster
        assert cluster is not None
        kill = await self.loop.run_in_executor(
            None, cluster.killed_for_memory, link.pid, _OOM_EVENT_WAIT
        )
        where = f"the Dask worker {link.address or '?'} (pid {link.pid})"
        for running in victims:
            if running.future.done():
                continue
            name = running.attempt.task.name
            exc: BaseException
            if kill is not None:
                rss = kill.get("rss")
                used = f" at {rss / 2**20:.0f}Mi" if isinstance(rss, int | float) else ""
                exc = OOMError(
                    f"{name} ran out of memory: Dask killed {where} for going over its memory "
                    f"limit{used}. Ask for a worker with more memory (Resources(memory=...) on "
                    "workers declaring MEMORY, or a larger --memory-limit)"
                )
            else:
                exc = RuntimeSystemError(f"{where} running {name} died mid-attempt")
            running.settle(False, exc)
            self._stop(running)

    # -- the rest of the protocol --------------------------------------------------

    def pids(self) -> list[int]:
        """The pids of the Dask worker processes connected to this driver."""
        return [link.pid for link in self._links if not link.dead]

    def shutdown(self) -> None:
        """Close the channel; the cluster closes at exit (`dask_cluster.close_all`)."""
        if self._closed:
            return
        self._closed = True
        for link in list(self._links):
            link.channel.close()
        if self._server is not None:
            self._server.close()
