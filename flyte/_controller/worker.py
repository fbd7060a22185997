"""The worker side of the channel: runs attempts a controller sends, in this process.

A worker is a plain process (forked by the zygote, or a Dask worker) connected to the
controller by a `Channel`. Its main thread reads messages; async bodies run on a loop
thread of its own and sync bodies on a `SyncPool`, as in the driver. Inside a body,
`ActionContext.run` is a `WorkerRun` and `run.controller` a `WorkerController`: task calls,
`flyte.map`, traces and log lines go to the controller, which records them in the same
run tree (see `channel.py` for the messages).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import itertools
import os
import pickle
import sys
import threading
import time
import types
from collections.abc import Callable, Coroutine, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flyte import _serde
from flyte._context import ActionContext, _current, group_var
from flyte._controller import MapsByCalls
from flyte._controller.calls import (
    LATE_INTERRUPTIONS,
    BodyExit,
    Call,
    SyncThreads,
    check_call,
    in_action,
)
from flyte._controller.channel import (
    Channel,
    connect,
    load_task,
    pack_error,
    task_ref,
    unpack_error,
)
from flyte._controller.own_loop import OwnLoopBody, needs_own_loop
from flyte._controller.threads import SyncPool
from flyte._map import custom_context_var
from flyte._store.logs import flush_action_logs
from flyte.errors import ActionAborted, as_user_error

if TYPE_CHECKING:
    from flyte._controller.recorder import TraceRecord
    from flyte._controller.state import RunOptions, RunState
    from flyte._store import RunStore
    from flyte._task import TaskTemplate

__all__ = ["WorkerController", "WorkerRun", "peak_rss", "serve"]


def peak_rss() -> int | None:
    """This process's peak resident memory in bytes (`ru_maxrss`), where the OS tells."""
    if _resource is None:  # pragma: no cover - Windows
        return None
    return int(_resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss) * _MAXRSS_UNIT


try:
    import resource as _resource
except ImportError:  # pragma: no cover - Windows
    _resource = None  # type: ignore[assignment]
_MAXRSS_UNIT = 1 if sys.platform == "darwin" else 1024


class WorkerRun:
    """What bodies, traces and log capture need of a run, inside a worker process."""

    def __init__(
        self,
        controller: WorkerController,
        name: str,
        mode: str,
        labels: dict[str, str],
        echo: bool,
        extra: dict[str, Any] | None = None,
    ) -> None:
        extra = extra or {}
        self.controller = controller
        self.name = name
        self.mode = mode
        self.labels = labels
        self.echo = echo
        self.started_at: float | None = extra.get("started_at")
        self.options = _Options(disable_run_cache=bool(extra.get("disable_run_cache")))
        # flyte.report: reports of the attempts running here; stored through the controller.
        self.reports: dict[str, tuple[int, Any]] = {}
        self.writer = _ChannelWriter(controller, name)
        self.aborted = threading.Event()
        # Sync attempts ("action:attempt") cancelled here (a timeout, an abort): their
        # bodies may start no more calls. The run's other bodies here go on.
        self.cancelled: set[str] = set()
        self.sync_threads = SyncThreads()
        self.detached: set[Any] = set()
        # (action id, attempt) -> the controller's key for that attempt
        self.keys: dict[tuple[str, int], int] = {}

    @property
    def data_dir(self) -> Path:
        from flyte._store import flyte_home

        return flyte_home() / "data" / self.name

    def log(self, action: ActionContext, stream: str, line: str) -> None:
        key = self.keys.get((action.action_id, action.attempt), 0)
        self.controller.channel.send(
            ("log", key, self.name, action.action_id, action.attempt, stream, line, time.time())
        )

    def trace_lookup(self, trace_id: str) -> tuple[str | None, bytes, bool] | None:
        return self.controller.request(("trace_get", self.name, trace_id))  # type: ignore[no-any-return]

    def record_trace(self, trace: TraceRecord) -> None:
        self.controller.channel.send(("trace", self.name, trace))

    def apply_env(self, owner: str, values: dict[str, str]) -> None:
        """Env vars were set when this process started (isolated per worker)."""

    def restore_env(self) -> None:
        """Nothing to restore: the worker's environment is its own."""


class _Options:
    """The run options a body can see (`flyte.ctx().disable_run_cache`)."""

    def __init__(self, *, disable_run_cache: bool) -> None:
        self.disable_run_cache = disable_run_cache


class _ChannelWriter:
    """`run.writer` in a worker: the few ops bodies write themselves (reports) go to the
    controller, which queues them to its own writer."""

    def __init__(self, controller: WorkerController, run: str) -> None:
        self._controller = controller
        self._run = run

    def put(self, op: tuple[Any, ...]) -> None:
        self._controller.channel.send(("put", self._run, op))


class WorkerController(MapsByCalls):
    """The Controller inside a worker: calls become requests to the driving controller."""

    def __init__(self, channel: Channel, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """`loop`: the calling thread's loop, when it serves the channel (`serve_channel`)."""
        self.channel = channel
        self._loop = loop
        self._loop_ident: int | None = threading.get_ident() if loop is not None else None
        self._lock = threading.Lock()
        self.pool = SyncPool(256)
        self._ids = itertools.count(1)
        self._waiting: dict[int, tuple[Any, asyncio.AbstractEventLoop | None]] = {}
        self._runs: dict[str, WorkerRun] = {}
        self._tasks: dict[int, Any] = {}  # attempt key -> asyncio task / (run, thread key)
        # Sync bodies running on pool threads, and the dones of finished ones waiting for
        # the loop to send them together (see `_send`).
        # Set by `serve_channel` (a process worker); a Dask worker sends each at once.
        self.batch_sync_dones = False
        self._done_lock = threading.Lock()
        self._sync_in_flight = 0
        self._sync_dones: list[tuple[Any, ...]] = []
        # Handles one message from the controller (set by `serve_channel`).
        self.dispatch: Callable[[tuple[Any, ...]], None] | None = None
        # The packed error every request gets once the driver is gone (`driver_gone`).
        self._gone: bytes | None = None

    def driver_gone(self, error: bytes) -> None:
        """The driver went away: fail every request waiting for it, and any made later.

        The flag is set before the waiting requests are read, and a request reads it after
        it registers, so each request is failed by one side or the other: one made just
        after the sweep was never answered, and its body waited forever.
        """
        self._gone = error
        for req in list(self._waiting):
            self._resolve(req, False, error)

    # -- loop ----------------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            with self._lock:
                if self._loop is None:
                    loop = asyncio.new_event_loop()
                    ready = threading.Event()

                    def serve_loop() -> None:
                        asyncio.set_event_loop(loop)
                        self._loop_ident = threading.get_ident()
                        ready.set()
                        loop.run_forever()

                    threading.Thread(target=serve_loop, name="flyte-worker", daemon=True).start()
                    ready.wait()
                    self._loop = loop
        return self._loop

    def on_loop(self) -> bool:
        return threading.get_ident() == self._loop_ident

    # -- requests to the controller ------------------------------------------------

    def request(self, message: tuple[Any, ...]) -> Any:
        """Send a request and block this thread for the reply's value.

        On the loop's own thread (a trace in an async body) nobody else would read the
        reply: this call reads the channel itself, handling what arrives meanwhile.
        """
        req = next(self._ids)
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._waiting[req] = (future, None)
        self._send_request(req, message)
        if self.on_loop() and self.dispatch is not None:
            self.channel.flush_soon()  # the loop blocks here: what it batched goes now
            while not future.done():
                try:
                    incoming = self.channel.recv()
                except EOFError:
                    raise ActionAborted("the controller went away") from None
                self.dispatch(incoming)
        else:
            with self.pool.blocking():
                future.result()
        ok, blob = future.result()
        return _reply_value(ok, blob)

    async def _request_aio(self, message: tuple[Any, ...]) -> Any:
        req = next(self._ids)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._waiting[req] = (future, loop)
        self._send_request(req, message)
        ok, blob = await future
        return _reply_value(ok, blob)

    def _send_request(self, req: int, message: tuple[Any, ...]) -> None:
        """Send request `req` (registered in `_waiting`); failed at once if the driver is
        gone, or goes while it is sent."""
        try:
            self.channel.send((message[0], req, *message[1:]))
        except OSError:
            if self._gone is None:
                raise
        gone = self._gone
        if gone is not None:  # set before, or while, it was sent: nobody will answer it
            self._resolve(req, False, gone)

    def _resolve(self, req: int, ok: bool, blob: bytes) -> None:
        entry = self._waiting.pop(req, None)
        if entry is None:
            return
        future, loop = entry
        if loop is None:
            future.set_result((ok, blob))
        elif self.on_loop():
            _set_result(future, (ok, blob))
        else:
            loop.call_soon_threadsafe(_set_result, future, (ok, blob))

    # -- the Controller protocol ---------------------------------------------------

    def start_run(
        self,
        *,
        name: str,
        store: RunStore,
        task: TaskTemplate[Any, Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        options: RunOptions,
    ) -> tuple[RunState, concurrent.futures.Future[Any]]:
        """A new, separate run started from a body: driven by this process's local engine."""
        from flyte._controller.local import get_controller

        return get_controller().start_run(
            name=name, store=store, task=task, args=args, kwargs=kwargs, options=options
        )

    def call(
        self,
        task: TaskTemplate[Any, Any],
        parent: ActionContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        coro = self.call_aio(task, parent, args, kwargs)
        if self.on_loop():
            if task.is_async:
                return coro
            handle = self.loop.create_task(coro)
            parent.pending.append(handle)
            return handle
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        parent.run.detached.add(future)
        try:
            with self.pool.blocking():
                return future.result()
        except concurrent.futures.CancelledError:
            raise ActionAborted(f"run {parent.run.name} was aborted") from None
        finally:
            parent.run.detached.discard(future)

    def call_aio(
        self,
        task: TaskTemplate[Any, Any],
        parent: ActionContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Coroutine[Any, Any, Any]:
        return self.prepare(task, parent, args, kwargs)()

    def prepare(
        self,
        task: TaskTemplate[Any, Any],
        parent: ActionContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Callable[[], Coroutine[Any, Any, Any]]:
        # As in the driver: checked now, numbered when it starts (`LocalController.prepare`).
        run: WorkerRun = parent.run  # type: ignore[assignment]
        if run.cancelled and f"{parent.action_id}:{parent.attempt}" in run.cancelled:
            raise ActionAborted(f"{parent.task_name} was stopped (its timeout or an abort)")
        check_call(task, parent, args, kwargs)
        group = group_var.get()
        key = run.keys.get((parent.action_id, parent.attempt), 0)
        return functools.partial(self._remote_call, task, parent, args, kwargs, group, key)

    async def _remote_call(
        self,
        task: TaskTemplate[Any, Any],
        parent: ActionContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        group: str | None,
        key: int,
    ) -> Any:
        call = Call(task, parent, args, kwargs, group, checked=True)
        task_key, ref = task_ref(task)
        payload = _serde.dumps((args, kwargs), what=f"the inputs of {task.name}")
        try:
            return await self._request_aio(
                ("call", key, task_key, ref, payload, call.id, call.seq, call.group)
            )
        except BaseException as exc:
            raise as_user_error(exc) from None

    def blocking(self) -> contextlib.AbstractContextManager[None]:
        return self.pool.blocking()

    def abort(self, run_name: str) -> bool:
        """A worker drives no run: aborts come from the controller as `cancel` messages."""
        return False

    def wait(self, future: concurrent.futures.Future[Any], timeout: float | None = None) -> bool:
        done, _ = concurrent.futures.wait([future], timeout=timeout)
        return bool(done)

    # -- attempts ------------------------------------------------------------------

    def _run_for(
        self, name: str, mode: str, labels: dict[str, str], echo: bool, extra: dict[str, Any]
    ) -> WorkerRun:
        run = self._runs.get(name)
        if run is None:
            if len(self._runs) > 64:
                self._runs.clear()
            run = self._runs[name] = WorkerRun(self, name, mode, labels, echo, extra)
        return run

    def start_attempt(
        self,
        key: int,
        task_key: str,
        ref: Any,
        payload: bytes,
        context: tuple[Any, ...],
    ) -> None:
        """Start an attempt the controller sent; its outcome is sent back as `done`."""
        run_name, action_id, attempt, mode, labels, echo, custom, group, extra = context
        try:
            task = load_task(task_key, ref)
            args, kwargs = pickle.loads(_serde.unsealed(payload))
        except BaseException as exc:  # the task or its inputs cannot be loaded here
            self._send_done(key, None, exc)
            return
        if task.report:  # a task unpickled by value never ran __init__, which registers it
            from flyte.report._report import REPORT_TASKS

            REPORT_TASKS.add(task.name)
        run = self._run_for(run_name, mode, labels, echo, extra)
        child = ActionContext(run=run, action_id=action_id, task_name=task.name, attempt=attempt)  # type: ignore[arg-type]
        run.keys[(action_id, attempt)] = key
        if task.is_async and needs_own_loop(task):
            self._own_loop_attempt(key, task, child, args, kwargs, custom, group)
            return
        if task.is_async:
            coro = self._async_attempt(key, task, child, args, kwargs, custom, group)
            handle: Any
            if self.on_loop():
                handle = _start_eagerly(self.loop, coro)
                if handle is None:  # the body finished in its first step
                    return
            else:
                handle = asyncio.run_coroutine_threadsafe(coro, self.loop)
            self._tasks[key] = handle
            if handle.done():
                self._tasks.pop(key, None)
            return
        ctx = contextvars.copy_context()
        ctx.run(_set_context_vars, custom, group)
        thread_key = f"{action_id}:{attempt}"

        def body() -> None:
            run.sync_threads.enter(thread_key)
            error: BaseException | None = None
            value = None
            try:
                token = _current.set(child)
                try:
                    value = task.func(*args, **kwargs)
                finally:
                    _current.reset(token)
            except BaseException as exc:  # also an abort or timeout that came as it ended
                error = BodyExit(exc) if isinstance(exc, SystemExit | KeyboardInterrupt) else exc
            finally:
                while True:  # see SyncThreads.leave: no interruption after this
                    try:
                        run.sync_threads.leave(thread_key)
                        break
                    except LATE_INTERRUPTIONS:
                        pass
            self._finish(key, child, value, error, sync=True)

        self._tasks[key] = (run, thread_key)
        if self.batch_sync_dones:
            with self._done_lock:
                self._sync_in_flight += 1
        self.pool.start(ctx.run, body)

    def _own_loop_attempt(
        self,
        key: int,
        task: TaskTemplate[Any, Any],
        child: ActionContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        custom: dict[str, str] | None,
        group: str | None,
    ) -> None:
        """An async body that calls the blocking `flyte.map`: on its own loop (`own_loop.py`)."""
        body = OwnLoopBody(child, task, args, kwargs, self)
        ctx = contextvars.copy_context()
        ctx.run(_set_context_vars, custom, group)

        def run() -> None:
            try:
                value = body.run()
            except BaseException as exc:
                if isinstance(exc, SystemExit | KeyboardInterrupt):
                    exc = BodyExit(exc)
                self._finish(key, child, None, exc)
                return
            self._finish(key, child, value, None)

        self._tasks[key] = body
        self.pool.start(ctx.run, run)

    async def _async_attempt(
        self,
        key: int,
        task: TaskTemplate[Any, Any],
        child: ActionContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        custom: dict[str, str] | None,
        group: str | None,
    ) -> None:
        _set_context_vars(custom, group)
        try:
            value = await in_action(child, task.func, args, kwargs)
        except BaseException as exc:
            for handle in child.pending:
                handle.cancel()
            self._finish(key, child, None, exc)
            return
        self._finish(key, child, value, None)

    def _finish(
        self,
        key: int,
        child: ActionContext,
        value: Any,
        exc: BaseException | None,
        *,
        sync: bool = False,
    ) -> None:
        flush_action_logs(child)
        if child.run.reports:  # type: ignore[attr-defined]
            from flyte.report._report import finish_report

            finish_report(child)
        run: WorkerRun = child.run  # type: ignore[assignment]
        run.keys.pop((child.action_id, child.attempt), None)
        self._tasks.pop(key, None)
        if sync and self.batch_sync_dones:
            self._send_sync_done(self._done_message(key, value, exc, child.task_name))
        else:
            self._send_done(key, value, exc, child.task_name)

    def _send_done(
        self, key: int, value: Any, exc: BaseException | None, name: str = "the task"
    ) -> None:
        self._send(self._done_message(key, value, exc, name))

    @staticmethod
    def _done_message(
        key: int, value: Any, exc: BaseException | None, name: str
    ) -> tuple[Any, ...]:
        info = {"peak_rss": peak_rss()}
        if exc is None:
            try:
                blob = _serde.dumps(value, what=f"the output of {name}")
                out_json = _serde.encode_json(value)
            except BaseException as err:
                exc = err
            else:
                return ("done", key, True, (blob, out_json), info)
        return ("done", key, False, pack_error(exc), info)

    def _send(self, message: tuple[Any, ...]) -> None:
        """Send an attempt's last message; from the loop thread, batched with the others
        of this loop turn (one write and one wake-up of the controller for a fan-out).

        Only `done` goes this way: it is the last message of its attempt, so deferring it
        to the end of the turn never reorders it after its own logs, traces or reports.
        """
        if self._loop is not None and self.on_loop():
            self.channel.send_soon(message, self._loop)
        else:
            self.channel.send(message)

    def _send_sync_done(self, message: tuple[Any, ...]) -> None:
        """A sync body's `done`, from its thread: at once when no other sync body runs (a
        round trip pays no hop), else through the loop with the dones the other threads
        finish meanwhile (one write and one wake-up of the controller for a fan-out)."""
        with self._done_lock:
            self._sync_in_flight -= 1
            batch = bool(self._sync_in_flight or self._sync_dones)
            if batch:
                self._sync_dones.append(message)
                first = len(self._sync_dones) == 1
        if not batch:
            self.channel.send(message)
        elif first:
            self.loop.call_soon_threadsafe(self._flush_sync_dones)

    def _flush_sync_dones(self) -> None:
        """Send the dones sync bodies finished since the last flush, in one write (loop)."""
        with self._done_lock:
            dones, self._sync_dones = self._sync_dones, []
        self.channel.hold()
        try:
            for message in dones:
                self.channel.send_soon(message, self.loop)
        finally:
            self.channel.flush_soon()

    def cancel(self, key: int) -> None:
        """Abort one attempt: cancel its asyncio task, or interrupt its thread."""
        entry = self._tasks.get(key)
        if entry is None:
            return
        if isinstance(entry, tuple):
            run, thread_key = entry
            run.cancelled.add(thread_key)
            run.sync_threads.interrupt(thread_key, ActionAborted)
        else:
            entry.cancel()


@types.coroutine
def _resume(coro: Coroutine[Any, Any, Any], yielded: Any) -> Generator[Any, Any, Any]:
    """The rest of a coroutine whose first step already ran and yielded `yielded`."""
    while True:
        try:
            sent = yield yielded
        except BaseException as exc:  # thrown in by its task (cancel)
            try:
                yielded = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                yielded = coro.send(sent)
            except StopIteration as stop:
                return stop.value


def _start_eagerly(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]
) -> asyncio.Task[Any] | None:
    """Run `coro`'s first step now, on the loop's thread, in a context of its own.

    A trivial body finishes in that step: no task, no loop turn (None is returned). One
    that waits continues as a task in the same context (`asyncio.eager_task_factory` of
    Python 3.12, for 3.11). `coro` must not raise (`_async_attempt` reports everything).
    """
    ctx = contextvars.copy_context()
    try:
        yielded = ctx.run(coro.send, None)
    except StopIteration:
        return None
    return loop.create_task(_resume(coro, yielded), context=ctx)  # type: ignore[arg-type]


def _set_context_vars(custom: dict[str, str] | None, group: str | None) -> None:
    custom_context_var.set(custom)
    group_var.set(group)


def _set_result(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _reply_value(ok: bool, blob: bytes) -> Any:
    if ok:
        return _serde.channel_loads(blob)
    raise unpack_error(blob)


def serve_channel(channel: Channel) -> None:
    """Serve attempts on `channel` until the controller says `exit` or goes away.

    The calling thread runs an event loop that reads the channel (`add_reader`) and runs
    async bodies; sync bodies run on the worker's `SyncPool` threads.
    """
    from flyte._store.logs import capture_logs

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    controller = WorkerController(channel, loop)
    capture_logs()
    finished = loop.create_future()

    def dispatch(message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "run":
            controller.start_attempt(*message[1:])
        elif kind == "reply":
            controller._resolve(message[1], message[2], message[3])
        elif kind == "cancel":
            controller.cancel(message[1])
        elif kind == "exit" and not finished.done():
            finished.set_result(None)

    def readable() -> None:
        try:
            messages = channel.recv_nowait()
        except EOFError:
            messages = [("exit",)]
        channel.hold()
        try:
            for message in messages:
                dispatch(message)
        finally:
            # The `done`s of the bodies that finished in their first step: one write, now.
            channel.flush_soon()

    controller.dispatch = dispatch
    controller.batch_sync_dones = True
    loop.add_reader(channel.fileno(), readable)
    loop.call_soon(readable)  # bodies start eagerly in `readable`: on the running loop
    loop.run_until_complete(finished)


def serve(address: Any, authkey: bytes, worker_id: int) -> None:
    """A worker process's main: connect, say hello, serve, then leave at once.

    `os._exit`, not a normal exit: a body stuck in a sleep or a C call must not keep the
    process alive after the controller let it go.
    """
    code = 0
    try:
        channel = connect(address, authkey)
        channel.send(("hello", worker_id, os.getpid()))
        serve_channel(channel)
    except BaseException:
        code = 70
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
