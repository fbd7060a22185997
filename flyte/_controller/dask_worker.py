"""The Dask side of the Dask executor: what runs inside a Dask worker process.

`run_on_worker` is the function the driver submits to Dask, once per attempt. In a
worker process it keeps one `Link` per driver: a worker-channel connection (TCP, the
driver's authkey) and a `WorkerController` (`worker.py`) that runs bodies exactly as a
process worker does, so task calls, `flyte.map`, traces and log lines from the body reach
the driver and are recorded in the same run tree.

Each attempt first *claims* its key from the driver: Dask re-runs a task whose worker
died on another worker, but the driver has already failed (and maybe retried) that
attempt, so the re-run is refused and the body never runs twice for one attempt.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import pickle
import threading
from typing import Any

from flyte import _serde
from flyte._context import ActionContext, _current
from flyte._controller.calls import LATE_INTERRUPTIONS, BodyExit
from flyte._controller.channel import Channel, connect, load_task, pack_error
from flyte._controller.worker import WorkerController, _set_context_vars
from flyte.errors import ActionAborted

__all__ = ["Link", "run_on_worker"]

_links: dict[Any, Link] = {}
_links_lock = threading.Lock()
_env_lock = threading.Lock()
# The slot of the attempt whose sync body runs in this (Dask task) thread, if any.
_here = threading.local()


class _Slot:
    """The Dask thread of one attempt waits on this until the body is done."""

    __slots__ = ("done", "event", "may_secede", "secede", "seceded")

    def __init__(self, may_secede: bool) -> None:
        self.done = False
        self.secede = False
        self.seceded = False
        self.may_secede = may_secede
        self.event = threading.Event()

    def leave_dask_pool(self) -> None:
        """Secede this Dask task's thread from the worker's pool (once; its own thread only).

        A body waiting on child tasks that need worker threads too must not hold one:
        parents holding every thread would deadlock their children. Not for an attempt
        holding Dask resources: the scheduler then counts them free while the worker still
        holds them, and sends the children to that worker, where they wait for the parent
        that waits for them (distributed 2026.8). Such a parent keeps its thread instead.
        """
        if not self.seceded and self.may_secede:
            self.seceded = _secede()


class _Controller(WorkerController):
    """A `WorkerController` that tells its `Link` when attempts end or wait on children."""

    def __init__(self, channel: Channel, link: Link) -> None:
        super().__init__(channel)
        self.link = link

    def _send_done(
        self, key: int, value: Any, exc: BaseException | None, name: str = "the task"
    ) -> None:
        try:
            super()._send_done(key, value, exc, name)
        finally:
            self.link.finished(key)

    async def _remote_call(
        self, task: Any, parent: Any, args: Any, kwargs: Any, group: Any, key: int
    ) -> Any:
        self.link.waiting_on_child(key)
        return await super()._remote_call(task, parent, args, kwargs, group, key)

    def call(self, task: Any, parent: Any, args: Any, kwargs: Any) -> Any:
        slot = getattr(_here, "slot", None)
        if slot is not None and not self.on_loop():
            slot.leave_dask_pool()  # a sync body in a Dask thread is about to wait on a child
        return super().call(task, parent, args, kwargs)

    def blocking(self) -> Any:
        slot = getattr(_here, "slot", None)
        if slot is not None:
            slot.leave_dask_pool()  # flyte.map from a sync body waits on its children
        return super().blocking()


class Link:
    """This worker process's connection to one driver, shared by all its attempts."""

    def __init__(self, address: Any, authkey: bytes) -> None:
        self.address = address
        channel = connect(address, authkey)
        from flyte._controller.dask import no_delay

        no_delay(channel)
        channel.send(("hello", "dask", os.getpid(), _worker_address()))
        self.controller = _Controller(channel, self)
        self.slots: dict[int, _Slot] = {}
        self.lost = False
        from flyte._store.logs import capture_logs

        capture_logs()  # prints of bodies go to their actions (and, with echo, to stdout)
        threading.Thread(target=self._read, name="flyte-dask-link", daemon=True).start()

    def _read(self) -> None:
        controller = self.controller
        while True:
            try:
                message = controller.channel.recv()
            except (EOFError, OSError):
                self._driver_lost()
                return
            kind = message[0]
            if kind == "reply":
                controller._resolve(message[1], message[2], message[3])
            elif kind == "cancel":
                controller.cancel(message[1])

    def _driver_lost(self) -> None:
        """The driver went away: nobody will record these bodies, so stop them."""
        self.lost = True
        with _links_lock:
            if _links.get(self.address) is self:
                del _links[self.address]
        controller = self.controller
        controller.driver_gone(pack_error(ActionAborted("the driver of this run went away")))
        for key in list(self.slots):
            controller.cancel(key)
            self.finished(key)
        controller.channel.close()

    def finished(self, key: int) -> None:
        slot = self.slots.get(key)
        if slot is not None:
            slot.done = True
            slot.event.set()

    def waiting_on_child(self, key: int) -> None:
        slot = self.slots.get(key)
        if slot is not None and not slot.secede:
            slot.secede = True
            slot.event.set()

    def run(
        self,
        key: int,
        task_key: str,
        ref: Any,
        payload: bytes,
        context: tuple[Any, ...],
        env: dict[str, str],
        restricted: bool,
    ) -> str:
        """Claim the attempt, run it, and block this Dask thread until it is done."""
        controller = self.controller
        if not controller.request(("claim", key)):
            return "refused"
        slot = self.slots[key] = _Slot(may_secede=not restricted)
        saved = _apply_env(env)
        try:
            try:
                task = load_task(task_key, ref)
            except BaseException:
                task = None  # start_attempt reports the failure to the driver
            if task is not None and not task.is_async:
                self._run_sync(slot, key, task, payload, context)
            else:
                controller.start_attempt(key, task_key, ref, payload, context)
                while not slot.done:
                    slot.event.wait()
                    slot.event.clear()
                    if slot.secede and not slot.done:
                        slot.leave_dask_pool()
        finally:
            self.slots.pop(key, None)
            _restore_env(saved)
        return "lost" if self.lost else "done"

    def _run_sync(
        self, slot: _Slot, key: int, task: Any, payload: bytes, context: tuple[Any, ...]
    ) -> None:
        """A sync body runs right here, in the Dask task's thread (no hand-off)."""
        controller = self.controller
        run_name, action_id, attempt, mode, labels, echo, custom, group, extra = context
        try:
            args, kwargs = pickle.loads(_serde.unsealed(payload))
        except BaseException as exc:
            controller._send_done(key, None, exc)
            return
        run = controller._run_for(run_name, mode, labels, echo, extra)
        child = ActionContext(run=run, action_id=action_id, task_name=task.name, attempt=attempt)  # type: ignore[arg-type]
        run.keys[(action_id, attempt)] = key
        thread_key = f"{action_id}:{attempt}"
        controller._tasks[key] = (run, thread_key)
        ctx = contextvars.copy_context()
        ctx.run(_set_context_vars, custom, group)

        def body() -> tuple[Any, BaseException | None]:
            run.sync_threads.enter(thread_key)
            try:
                _here.slot = slot
                token = _current.set(child)
                try:
                    return task.func(*args, **kwargs), None
                finally:
                    _current.reset(token)
                    _here.slot = None
            except BaseException as exc:  # also an abort that came as it ended
                if isinstance(exc, SystemExit | KeyboardInterrupt):
                    exc = BodyExit(exc)
                return None, exc
            finally:
                while True:  # see SyncThreads.leave: no interruption after this
                    try:
                        run.sync_threads.leave(thread_key)
                        break
                    except LATE_INTERRUPTIONS:
                        pass

        value, error = ctx.run(body)
        controller._finish(key, child, value, error)


def run_on_worker(spec: bytes) -> str:
    """Run one attempt of one action in this Dask worker (submitted by `DaskExecutor`).

    `spec` pickles (driver address, authkey, attempt key, task key, task ref, inputs,
    context, env, restricted): one bytes argument costs Dask less to ship than nine
    objects. `restricted`: the attempt holds Dask worker resources (it never secedes).

    Returns "done" (the outcome went to the driver over the channel), "refused" (the
    driver had already given up on this attempt) or "lost" (the driver went away).
    """
    address, authkey, key, task_key, ref, payload, context, env, restricted = pickle.loads(spec)
    return _link_for(address, authkey).run(key, task_key, ref, payload, context, env, restricted)


def _link_for(address: Any, authkey: bytes) -> Link:
    with _links_lock:
        link = _links.get(address)
        if link is None or link.lost:
            link = _links[address] = Link(address, authkey)
        return link


def _worker_address() -> str | None:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return None


def _secede() -> bool:
    try:
        from distributed import secede

        secede()
    except (ImportError, ValueError, KeyError):  # not in a Dask task thread (tests)
        return False
    return True


def _apply_env(env: dict[str, str]) -> dict[str, str | None]:
    """Set the attempt's environment (run and task env vars, secrets, FLYTE_HOME).

    A Dask worker process is shared by the attempts it runs: with one thread per worker
    (the usual setup, and `executor="dask"`'s) each attempt sees exactly its own values.
    """
    saved: dict[str, str | None] = {}
    with _env_lock:
        for name, value in env.items():
            old = os.environ.get(name)
            if old != value:  # most attempts change nothing (FLYTE_HOME is already set)
                saved[name] = old
                os.environ[name] = value
    return saved


def _restore_env(saved: dict[str, str | None]) -> None:
    with _env_lock:
        for name, value in saved.items():
            if value is None:
                with contextlib.suppress(KeyError):
                    del os.environ[name]
            else:
                os.environ[name] = value
