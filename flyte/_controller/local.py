"""The local controller: one background event loop, look-up before execute, retries.

Before an action executes, the controller looks it up: a recovered result from the run
being recovered, then the cache; only on a miss does an executor run the body (in
process, in a worker process, on Dask: see `executor.py`). The controller keeps the retry
loop and records every step through the run's typed `Recorder`, queued to the store by a
batching writer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import gc
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from flyte import _serde
from flyte._cachekey import compute_key
from flyte._context import ActionContext, _current, group_var
from flyte._controller import MapsByCalls
from flyte._controller.calls import (
    FROM_CONTEXT,
    BodyExit,
    Call,
    Deadline,
    Settled,
    check_call,
    error_fields,
    format_user_traceback,
    resume_in,
    run_inputs_blob,
    wait_pending,
)
from flyte._controller.executor import Attempt, Executor, InlineExecutor
from flyte._controller.heartbeat import Heartbeat
from flyte._controller.limits import QUICK_DEPTH, child_depth
from flyte._controller.state import RunOptions, RunState
from flyte._controller.writer import Writer
from flyte._models import CacheStatus, Phase
from flyte._store._liveness import this_process_start
from flyte._store.logs import capture_logs, flush_action_logs, release_logs
from flyte._typecheck import check_output
from flyte.errors import (
    ActionAborted,
    InvalidOptionError,
    NonRecoverableError,
    RunAbortedError,
    RuntimeUserError,
    SerializationError,
    StoreError,
    TaskTimeoutError,
    as_user_error,
)

if TYPE_CHECKING:
    from flyte._cachekey import KeyParts
    from flyte._controller.recorder import ErrorFields, Placement
    from flyte._store import RunStore
    from flyte._task import TaskTemplate

__all__ = ["LocalController", "format_user_traceback", "get_controller"]

_HOST = socket.gethostname()
# Enum .value lookups cost a descriptor call each; the hot path uses these constants.
_RUNNING = Phase.RUNNING.value
_SUCCEEDED = Phase.SUCCEEDED.value
_FAILED = Phase.FAILED.value
_ABORTED = Phase.ABORTED.value
_TIMED_OUT = Phase.TIMED_OUT.value
_CACHE_WRITTEN = CacheStatus.WRITTEN.value
_DISABLED = CacheStatus.DISABLED.value
_UNLOADED: Any = object()
# Executor choices under which a plain task runs in this process (see `executor_for`).
_IN_PROCESS = (None, "auto", "inline")


class _Miss:
    """`_look_up` found nothing: how `_execute` records the cache."""

    __slots__ = ("key", "status")

    def __init__(self, status: CacheStatus, key: KeyParts | None) -> None:
        self.status = status
        self.key = key


def _checked_depth(
    task: TaskTemplate[Any, Any],
    parent: ActionContext,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> int:
    """Check a call where it is made; the nesting depth it runs at (see limits.py)."""
    check_call(task, parent, args, kwargs)
    failed = parent.run.writer.run_error(parent.run.name)
    if failed is not None:  # the store cannot record this run: stop, with the cause
        raise failed
    # Async children are awaited on the caller's stack: a clear error long before
    # Python's recursion limit. A sync child runs in its own thread and starts afresh.
    if not task.is_async:
        return 0
    depth = parent.depth + 1
    if depth >= QUICK_DEPTH:  # deeper: the limits are checked
        depth = child_depth(task.name, parent.depth)
    return depth


class LocalController(MapsByCalls):
    """Drives runs in this process; one instance per process (see `get_controller`).

    Implements the `Controller` protocol (`flyte/_controller/__init__.py`).
    """

    def __init__(self, max_workers: int = 256) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._loop_ident: int | None = None
        self._max_workers = max_workers
        self._inline: InlineExecutor | None = None
        self._executors: dict[Any, Executor] = {}
        self._start_lock = threading.Lock()
        self._runs: dict[str, tuple[RunState, asyncio.Task[Any]]] = {}
        self._heartbeat = Heartbeat(self._runs, self.abort)

    # -- the loop ------------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            with self._start_lock:
                if self._loop is None:
                    loop = asyncio.new_event_loop()
                    ready = threading.Event()

                    def serve() -> None:
                        asyncio.set_event_loop(loop)
                        self._loop_ident = threading.get_ident()
                        ready.set()
                        loop.run_forever()

                    thread = threading.Thread(target=serve, name="flyte-controller", daemon=True)
                    thread.start()
                    ready.wait()
                    self._loop_thread = thread
                    self._inline = InlineExecutor(loop, self._max_workers)
                    self._loop = loop
        return self._loop

    def on_loop(self) -> bool:
        return threading.get_ident() == self._loop_ident

    @property
    def inline(self) -> InlineExecutor:
        """The in-process executor (exists once the loop does)."""
        if self._inline is None:
            _ = self.loop
        assert self._inline is not None
        return self._inline

    def writer_for(self, store: RunStore) -> Writer:
        writer: Writer | None = getattr(store, "_flyte_writer", None)
        if writer is None:
            from flyte._store.memory import MemoryRunStore

            writer = Writer(store, threaded=not isinstance(store, MemoryRunStore))
            store._flyte_writer = writer  # type: ignore[attr-defined]
        return writer

    # -- executors -----------------------------------------------------------------

    def executor_for(self, run: RunState, task: TaskTemplate[Any, Any]) -> Executor:
        """Where `task`'s attempts run in `run`.

        By default in process, except tasks whose environment or override sets
        `resources=` or `reusable=`: those need a process of their own (limits, warm
        workers, isolated env vars). "inline" keeps everything here; "process" (or a Dask
        spec) sends every body there.
        """
        spec = run.executor
        if spec is None or spec == "auto":
            if task.resources is None and task.reusable is None:
                return self.inline
            spec = "process"
        elif spec == "inline":
            return self.inline
        key = spec if isinstance(spec, str) else id(spec)
        executor = self._executors.get(key)
        if executor is None:
            from flyte._controller import create_executor

            with self._start_lock:
                executor = self._executors.get(key)
                if executor is None:
                    executor = self._executors[key] = create_executor(spec, self)
        return executor

    def shutdown(self) -> None:
        """Stop the executors' workers (atexit; tests)."""
        for executor in list(self._executors.values()):
            executor.shutdown()
        self._executors.clear()

    # -- runs ----------------------------------------------------------------------

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
        """Record a new run and start its root action on the loop; return its future."""
        writer = self.writer_for(store)
        run = RunState(name=name, store=store, writer=writer, options=options)
        if run.executor is None:
            from flyte._config import executor_spec

            run.executor = executor_spec()
        run.controller = self
        call = Call(task, None, args, kwargs)
        inputs = call.inputs
        if options.recover_from:
            store.claim_recovery(options.recover_from, name)  # one recovery at a time
            run.recovered = store.successful_actions(options.recover_from)
        now = time.time()
        source = task.source()
        task_blob = None
        if source["file"] is None:
            # No source file to reload on rerun (notebook cell, exec): keep a snapshot.
            try:
                import cloudpickle

                task_blob = _serde.seal(bytes(cloudpickle.dumps(task)))
            except Exception:  # cannot be snapshotted: rerun then says so clearly
                task_blob = None
        settings = {**run.settings(), "source": source, "output_arity": task.output_arity}
        if run.executor is not None:
            settings["executor"] = run.executor if isinstance(run.executor, str) else "custom"
        run.recorder.run_started(
            name,
            task=task.name,
            started_at=now,
            inputs_json=_serde.encode_json(inputs),
            inputs_blob=run_inputs_blob(task, args, kwargs, inputs),
            pid=os.getpid(),
            pid_start=this_process_start(),
            host=_HOST,
            recovered_from=options.recover_from,
            settings=settings,
            labels=options.labels,
            task_blob=task_blob,
        )
        try:
            writer.flush()
        except StoreError as exc:
            # Recorded as FAILED, with the cause, once the store can be written again.
            run.recorder.run_failed(
                name,
                phase=Phase.FAILED,
                ended_at=time.time(),
                error={"error_type": "StoreError", "error_message": str(exc)},
            )
            raise
        capture_logs()
        future = asyncio.run_coroutine_threadsafe(
            self._drive(run, task, call, args, kwargs), self.loop
        )
        return run, future

    async def _drive(
        self,
        run: RunState,
        task: TaskTemplate[Any, Any],
        call: Call,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        current = asyncio.current_task()
        assert current is not None
        if not self._runs:
            _tune_for_runs()
        self._runs[run.name] = (run, current)
        self._heartbeat.ensure()
        try:
            if run.store.abort_requested(run.name):
                # Aborted after it was recorded, before it was registered here: the abort
                # found nothing to cancel and went to the store (see Run.abort).
                raise ActionAborted(f"run {run.name} was aborted")
            run.apply_env("the run context", run.options.env_vars)
            value = await self._run_action(task, call, args, kwargs, run=run)
        except BaseException as exc:
            aborted = (
                isinstance(exc, asyncio.CancelledError | ActionAborted) or run.aborted.is_set()
            )
            phase = (
                Phase.ABORTED
                if aborted
                else (Phase.TIMED_OUT if isinstance(exc, TaskTimeoutError) else Phase.FAILED)
            )
            # Sync bodies cannot be stopped mid-call: their actions end ABORTED with the run.
            run.recorder.run_failed(
                run.name,
                phase=phase,
                ended_at=time.time(),
                error=None if aborted else error_fields(exc),
            )
            self._finish_run(run)
            if aborted:
                raise RunAbortedError(f"run {run.name} was aborted") from None
            raise
        try:
            blob: bytes | None = _serde.dumps(value, what=f"the output of {task.name}")
        except SerializationError:
            blob = None
        run.recorder.run_succeeded(
            run.name,
            outputs_json=_serde.encode_json(value),
            outputs_blob=blob,
            ended_at=time.time(),
        )
        self._finish_run(run)
        return value

    def _finish_run(self, run: RunState) -> None:
        self._runs.pop(run.name, None)
        if not self._runs:
            _tune_as_before()
        run.restore_env()
        release_logs()

    def abort(self, run_name: str) -> bool:
        """Abort a run driven by this process: cancel its root and stop its sync bodies."""
        entry = self._runs.get(run_name)
        if entry is None:
            return False
        run, root = entry
        run.aborted.set()

        def cancel() -> None:
            root.cancel()
            for future in list(run.detached):
                future.cancel()
            run.sync_threads.interrupt_all(ActionAborted)

        self.loop.call_soon_threadsafe(cancel)
        return True

    def wait(self, future: concurrent.futures.Future[Any], timeout: float | None = None) -> bool:
        """Block until a run started here ends (or `timeout`); True when it ended."""
        done, _ = concurrent.futures.wait([future], timeout=timeout)
        return bool(done)

    # -- calls from user code ------------------------------------------------------

    def call(
        self,
        task: TaskTemplate[Any, Any],
        parent: ActionContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """Route a task call made inside a run (see DESIGN.md section 2, four combinations)."""
        if threading.get_ident() == self._loop_ident:
            if task.is_async:
                if task.cache.enabled or parent.run.recovered:
                    return self._look_up_now(task, parent, args, kwargs)
                return self.prepare(task, parent, args, kwargs)()
            coro = self.prepare(task, parent, args, kwargs)()
            # A sync task from async code starts at once; the parent outlives the handle.
            handle = self.loop.create_task(coro)
            parent.pending.append(handle)
            return handle
        return self.wait_from_thread(self.prepare(task, parent, args, kwargs)(), parent)

    def wait_from_thread(self, coro: Coroutine[Any, Any, Any], parent: ActionContext) -> Any:
        """Run `coro` on the loop and block this worker thread until it is done.

        The future is registered with the run, so an abort cancels it (and this thread
        stops waiting) even though no asyncio task awaits it. While it waits, the thread
        does not count against the sync pool's bound (see `threads.py`).
        """
        run = parent.run
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        run.detached.add(future)
        try:
            with self.blocking():
                return future.result()
        except concurrent.futures.CancelledError:
            raise ActionAborted(f"run {run.name} was aborted") from None
        finally:
            run.detached.discard(future)

    def blocking(self) -> contextlib.AbstractContextManager[None]:
        """Mark the calling sync-body thread as waiting on a child (see `SyncPool`)."""
        return self.inline.pool.blocking()

    def call_aio(
        self,
        task: TaskTemplate[Any, Any],
        parent: ActionContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Coroutine[Any, Any, Any]:
        """A coroutine running the task as a child action of `parent` (checked now)."""
        return self.prepare(task, parent, args, kwargs)()

    call_coro = call_aio

    def prepare(
        self,
        task: TaskTemplate[Any, Any],
        parent: ActionContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        group: Any = FROM_CONTEXT,
    ) -> Callable[[], Coroutine[Any, Any, Any]]:
        """Check the call now; return a factory for the coroutine that runs it.

        The arguments are type-checked here (a wrong call fails where it is made); the
        call's identity (inputs digest, sequence number, id) is fixed when it starts, so a
        wide fan-out holds only its arguments and a small coroutine per call not yet
        started. The sequence number only tells apart calls of one task with
        equal inputs, interchangeable by definition, so their start order may number them.
        `flyte.map` creates the coroutines only when they are about to run, so calls that
        an abort cancels before they start leave no never-awaited coroutine behind.
        """
        _checked_depth(task, parent, args, kwargs)  # `_start` finds the same depth again
        if group is FROM_CONTEXT:
            group = group_var.get()  # the group the call is made in, not the one it starts in
        # A wide fan-out holds one of these per call not yet started: one positional
        # partial, and a small coroutine (`_start`) rather than `_run_action`'s big frame.
        return functools.partial(self._start, task, parent, args, kwargs, group)

    def _look_up_now(
        self,
        task: TaskTemplate[Any, Any],
        parent: ActionContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """A call whose result may be known already (cached task, recovering run): the
        look-up is done as the call is made, and a hit is a `Settled` future.

        A look-up runs no user code, so doing it now rather than when the call is awaited
        changes nothing visible but the action's start time (the call's, as for any call
        `asyncio.gather` starts at once). A miss is the coroutine that executes the task.
        """
        depth = _checked_depth(task, parent, args, kwargs)
        run = parent.run
        try:
            call = Call(task, parent, args, kwargs, group_var.get(), checked=True)
            found = self._look_up(task, call, run)
        except BaseException as exc:  # raised where the call is awaited, as before
            return Settled.of(self.loop, exc=exc)
        if type(found) is _Miss:
            return self._execute(task, run, call.id, args, kwargs, found.status, found.key, depth)
        return Settled.of(self.loop, found)

    async def _start(
        self,
        task: TaskTemplate[Any, Any],
        parent: ActionContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        group: str | None,
    ) -> Any:
        """Fix the call's identity and run it, one level below `parent` (see limits.py).

        A wide fan-out holds one of these coroutines per call not yet started, finished
        ones too until the gather ends: its frame stays small (no locals, a short stack:
        each slot is 800 KB at 100,000 calls); the work is in the coroutines it awaits.
        """
        if (
            (task.plain if task._plain is None else task._plain)
            and not parent.run.recovered
            and parent.run.executor in _IN_PROCESS
        ):
            return await self._run_plain(task, parent, args, kwargs, group)
        return await self._run_called(task, parent, args, kwargs, group)

    def _run_called(
        self,
        task: TaskTemplate[Any, Any],
        parent: ActionContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        group: str | None,
    ) -> Coroutine[Any, Any, Any]:
        """`_run_action` for a call made in `parent` (its identity fixed now)."""
        return self._run_action(
            task,
            Call(task, parent, args, kwargs, group, checked=True),
            args,
            kwargs,
            run=parent.run,
            depth=parent.depth + 1 if task.is_async else 0,  # as `_checked_depth` found
        )

    async def _run_plain(
        self,
        task: TaskTemplate[Any, Any],
        parent: ActionContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        group: str | None,
    ) -> Any:
        """The common call (`TaskTemplate.plain`: an async body run here, without cache,
        retries, timeout, report or env vars, in a run that recovers nothing), in one frame.

        The general path's look-ups and retry loop would find nothing to do, and its frames
        were a third of the engine's time per action. It records the same.
        """
        call = Call(task, parent, args, kwargs, group, checked=True)
        run = parent.run
        aid = call.id
        rec = run.recorder
        started = time.time()
        _record_start(run, task, call, started)
        child = ActionContext(run=run, action_id=aid, task_name=task.name, depth=parent.depth + 1)
        try:
            # The body runs in a context of its own, not the awaiting task's: setting the
            # action there would keep a context copy in every finished task of a fan-out
            # (14 MB at 100,000) until the gather ends. This one goes with the body.
            ctx = contextvars.copy_context()
            ctx.run(_current.set, child)
            body = task.func(*args, **kwargs)
            try:
                value = await resume_in(ctx, body, ctx.run(body.send, None))
            except StopIteration as done:  # the body ended at its first step (the usual)
                value = done.value
            except (SystemExit, KeyboardInterrupt) as exc:
                raise BodyExit(exc) from None
            if child.pending:  # sync children it started and did not await
                value = await wait_pending(child, value)
            check_output(task, value)
            out_json = _serde.encode_json(value)
            # Plain data is kept as its JSON (never executed: no pickle, no seal to make).
            blob = _serde.exact_json(value, out_json) or _serde.dumps(
                value, what=f"the output of {task.name}", key=run.seal_key
            )
        except BaseException as exc:
            failure = _attempt_failed(run, task, aid, child, exc, 1, started, None)
            raise _action_failed(run, aid, failure, 1, _DISABLED) from None
        flush_action_logs(child)
        if run.aborted.is_set():  # the run was aborted while this action ran
            rec.action_failed(run.name, aid, phase=_ABORTED, ended_at=time.time())
            raise ActionAborted(f"run {run.name} was aborted")
        rec.attempt_succeeded(
            run.name,
            aid,
            1,
            started_at=started,
            ended_at=time.time(),
            placement=None,
            outputs_json=out_json,
            outputs_blob=blob,
            cache_status=_DISABLED,
            cache_key=None,
        )
        return value

    # -- one action ----------------------------------------------------------------

    async def _run_action(
        self,
        task: TaskTemplate[Any, Any],
        call: Call,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        run: RunState,
        depth: int = 0,
    ) -> Any:
        """The general path: look up (recovered, cache) before execute; `depth` as nested."""
        found = self._look_up(task, call, run)
        if type(found) is _Miss:
            return await self._execute(
                task, run, call.id, args, kwargs, found.status, found.key, depth
            )
        return found

    def _look_up(self, task: TaskTemplate[Any, Any], call: Call, run: RunState) -> Any:
        """Record the call's action started; return its recovered or cached value if
        there is one, else a `_Miss` (the cache status and key `_execute` records)."""
        inputs, ihash = call.inputs, call.inputs_hash
        aid = call.id
        rec = run.recorder
        _record_start(run, task, call, time.time())

        # Look up before execute: recovered result, then cache.
        recovered = run.recovered.get(aid)
        if (
            recovered is not None
            and recovered[0] == ihash
            and recovered[1] is not None
            and (found := _serde.trusted_loads(recovered[1], what=f"recovered {aid}"))[0]
        ):
            value = found[1]
            rec.action_recovered(
                run.name, aid, outputs_json=_serde.encode_json(value), outputs_blob=recovered[1]
            )
            return value

        cache = task.cache
        key = None
        cache_status = CacheStatus.DISABLED
        if cache.enabled and not run.options.disable_run_cache:
            try:
                key = compute_key(
                    task_name=task.name,
                    interface=task.interface_digest,
                    func=task.func,
                    cache=cache,
                    inputs=inputs,
                    per_input=call.per_input,
                    inputs_digest=call.inputs_hash,
                )
            except Exception as exc:
                err = SerializationError(f"cache key of {task.name} could not be computed: {exc}")
                rec.action_failed(
                    run.name, aid, phase=_FAILED, ended_at=time.time(), error=error_fields(err)
                )
                raise err from exc
            cache_status = CacheStatus.MISS
            if not run.options.overwrite_cache:
                recent = run.writer.recent_cache.get(key.key)
                if recent is not None:
                    # Written by this process and never read back from the store: the
                    # seal it was given here needs no check.
                    hit = (True, _serde.own_loads(recent[1]))
                else:
                    recent = self._cache_lookup(run, task.name, key.key)
                    if recent is not None:
                        hit = _serde.trusted_loads(recent[1], what=f"cache entry of {task.name}")
                if recent is not None and hit[0]:
                    out_json, value = recent[0], hit[1]
                    rec.action_cache_hit(run.name, aid, cache_key=key.key, outputs_json=out_json)
                    return value

        return _Miss(cache_status, key)

    @staticmethod
    def _cache_lookup(run: RunState, task_name: str, key: str) -> tuple[str | None, bytes] | None:
        """A cached output: from the task's entries loaded once per run, else one query.

        Loading a task's entries ahead turns a re-run's thousand look-ups into one query;
        an entry another process writes meanwhile is then missed, which only costs a run.
        """
        index = run.cache_index.get(task_name, _UNLOADED)
        if index is _UNLOADED:
            index = run.cache_index[task_name] = run.store.cache_outputs(task_name)
        if index is not None:
            return index.get(key)  # type: ignore[union-attr]
        return run.store.cache_lookup(key)

    async def _execute(
        self,
        task: TaskTemplate[Any, Any],
        run: RunState,
        aid: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        cache_status: CacheStatus,
        key: KeyParts | None,
        depth: int = 0,
    ) -> Any:
        """The retry loop: run attempts on the task's executor; record each; the value."""
        rec = run.recorder
        retries = task.retries
        attempts = retries.count + 1
        if task.report:  # also a task restored from a snapshot (deployed, notebook rerun)
            from flyte.report._report import REPORT_TASKS  # only report tasks load reports

            REPORT_TASKS.add(task.name)
        runtime = task.timeout.seconds if task.timeout is not None else None
        # Timeout(deadline=) bounds the action across all its attempts.
        deadline = task.timeout.deadline_seconds if task.timeout is not None else None
        first_start = 0.0
        timeout = runtime
        if run.executor is None and task.resources is None and task.reusable is None:
            executor: Executor = self._inline or self.inline  # the common case, no call
        else:
            executor = self.executor_for(run, task)
        for number in range(1, attempts + 1):
            child = ActionContext(
                run=run, action_id=aid, task_name=task.name, attempt=number, depth=depth
            )
            attempt_start = time.time()
            if number == 1:
                first_start = attempt_start
            if deadline is not None:
                left = max(deadline - (attempt_start - first_start), 0.001)
                timeout = left if runtime is None else min(runtime, left)
            attempt = Attempt(task, child, args, kwargs, timeout)
            if number > 1:
                rec.action_running(run.name, aid, number)
            try:
                value = await executor.run_attempt(attempt)
                check_output(task, value)
                out_json = attempt.out_json
                if out_json is None:
                    out_json = _serde.encode_json(value)
                blob = attempt.blob
                if blob is None:
                    blob = _serde.exact_json(value, out_json) or _serde.dumps(
                        value, what=f"the output of {task.name}", key=run.seal_key
                    )
            except BaseException as exc:
                if isinstance(exc, Deadline) and deadline is not None and timeout != runtime:
                    attempts = number  # past the deadline no retry may start
                failure = _attempt_failed(
                    run,
                    task,
                    aid,
                    child,
                    exc,
                    number,
                    attempt_start,
                    attempt.placement,
                    (runtime, deadline, timeout),
                )
                exc, phase = failure[0], failure[1]
                aborted = phase == _ABORTED
                retryable = (
                    not aborted
                    and number < attempts
                    and isinstance(exc, Exception)
                    and not isinstance(
                        exc, NonRecoverableError | SerializationError | InvalidOptionError
                    )
                    and getattr(exc, "code", None) not in _NOT_RETRIED
                    and getattr(exc, "retryable", True)
                )
                if retryable:
                    delay = retries.delay(number)
                    if delay:
                        await asyncio.sleep(delay)
                    continue
                raise _action_failed(run, aid, failure, number, cache_status.value) from None
            flush_action_logs(child)
            if task.report:
                _finish_report(child)
            if run.aborted.is_set():  # a sync body that finished after its run was aborted
                rec.action_failed(run.name, aid, phase=_ABORTED, ended_at=time.time())
                raise ActionAborted(f"run {run.name} was aborted")
            ended = time.time()
            stored_blob: bytes | None = blob
            status = cache_status.value
            if key is not None:
                recent_cache = run.writer.recent_cache
                if len(recent_cache) > 10_000:
                    recent_cache.clear()
                recent_cache[key.key] = (out_json, blob)
                rec.cache_put(
                    key.key,
                    task=task.name,
                    parts=key.parts,
                    outputs_json=out_json,
                    outputs_blob=blob,
                    created_at=ended,
                    run=run.name,
                    action_id=aid,
                )
                # Stored once: the cache entry keeps the exact value, the action refers to
                # it by key (the store reads it from there, as for a cache hit).
                stored_blob, status = None, _CACHE_WRITTEN
            rec.attempt_succeeded(
                run.name,
                aid,
                number,
                started_at=attempt_start,
                ended_at=ended,
                placement=attempt.placement,
                outputs_json=out_json,
                outputs_blob=stored_blob,
                cache_status=status,
                cache_key=None if key is None else key.key,
            )
            return value
        raise AssertionError("unreachable: the attempt loop returns or raises")


def _record_start(run: RunState, task: TaskTemplate[Any, Any], call: Call, started: float) -> None:
    """Record `call`'s action as RUNNING (both paths)."""
    run.recorder.action_started(
        run.name,
        call.id,
        parent=call.parent_id,
        name=task.name,
        phase=_RUNNING,
        group=call.group,
        inputs_hash=call.inputs_hash,
        inputs_json=call.inputs_json or _serde.encode_json(call.inputs),
        started_at=started,
        settings=task.settings,
        seq=call.seq,
    )


def _finish_report(child: ActionContext) -> None:
    from flyte.report._report import finish_report  # only report tasks load reports

    finish_report(child)


def _attempt_failed(
    run: RunState,
    task: TaskTemplate[Any, Any],
    aid: str,
    child: ActionContext,
    exc: BaseException,
    number: int,
    started: float,
    placement: Placement | None,
    limits: tuple[float | None, float | None, float | None] = (None, None, None),
) -> tuple[BaseException, str, ErrorFields | None, float]:
    """Record attempt `number`'s failure: (the error as recorded, phase, error fields, when).

    `limits`: the task's (runtime, deadline, this attempt's timeout), for a Deadline.
    """
    flush_action_logs(child)
    if task.report:
        _finish_report(child)
    for handle in child.pending:
        handle.cancel()
    exc = _attempt_error(exc, task, *limits)
    aborted = isinstance(exc, asyncio.CancelledError | ActionAborted)
    phase = _ABORTED if aborted else (_TIMED_OUT if isinstance(exc, TaskTimeoutError) else _FAILED)
    err = None if aborted else error_fields(exc)
    now = time.time()
    run.recorder.attempt_finished(
        run.name,
        aid,
        number,
        phase=phase,
        started_at=started,
        ended_at=now,
        error=err,
        placement=placement,
    )
    return exc, phase, err, now


def _action_failed(
    run: RunState,
    aid: str,
    failure: tuple[BaseException, str, ErrorFields | None, float],
    attempts: int,
    cache_status: str,
) -> BaseException:
    """Record the action failed with its last attempt's `failure` (`_attempt_failed`);
    the error its caller raises (an abort as it is, anything else as a user error)."""
    exc, phase, err, now = failure
    run.recorder.action_failed(
        run.name,
        aid,
        phase=phase,
        ended_at=now,
        attempts=attempts,
        cache_status=cache_status,
        error=err,
    )
    return exc if phase == _ABORTED else as_user_error(exc)


# A body that called sys.exit() or raised KeyboardInterrupt is not retried: neither is an
# Exception, and a retry would only repeat the exit.
_NOT_RETRIED = frozenset({"SystemExit", "KeyboardInterrupt"})


def _attempt_error(
    exc: BaseException,
    task: TaskTemplate[Any, Any],
    runtime: float | None,
    deadline: float | None,
    timeout: float | None,
) -> Any:
    """The error an attempt's failure is recorded and raised as."""
    if isinstance(exc, Deadline):
        if deadline is not None and timeout != runtime:
            err = TaskTimeoutError(
                f"{task.name} passed its deadline of {deadline:g}s and was stopped"
            )
        else:
            err = TaskTimeoutError(
                f"{task.name} ran longer than its timeout of {runtime:g}s and was stopped"
            )
        where = exc.args[0] if exc.args else ""
        err.__flyte_traceback__ = (  # type: ignore[attr-defined]
            "Traceback (most recent call last, where the body was stopped):\n"
            f"{where}TaskTimeoutError: {err}\n"
            if where
            else f"TaskTimeoutError: {err}\n"
        )
        return err
    if isinstance(exc, BodyExit):
        original = exc.original
        if isinstance(original, SystemExit):
            message = f"{task.name} called sys.exit({original.code!r}); the task failed"
        else:
            message = f"{task.name} raised KeyboardInterrupt; the task failed"
        exited = RuntimeUserError(message, code=type(original).__name__)
        exited.__flyte_traceback__ = format_user_traceback(original)  # type: ignore[attr-defined]
        return exited.with_traceback(original.__traceback__)
    if isinstance(exc, KeyboardInterrupt):  # a real Ctrl-C reaching the loop: an abort
        return ActionAborted("interrupted")
    return exc


# While runs are active the engine allocates several short-lived objects per action, and
# with the default threshold (700) the collector runs every few actions, its older
# generations ever more often as a big fan-out keeps 100,000 calls alive: a quarter of a
# 100k fan-out's time. Collecting the youngest generation less often while runs are active
# cuts that; the thresholds are put back when the last run ends, unless someone changed
# them meanwhile.
_GC_YOUNG = 20_000
# (the thresholds before, the ones set here) while runs are active
_gc_saved: list[tuple[tuple[int, int, int], tuple[int, int, int]]] = []
# The same for the GIL's switch interval. The store's writer thread needs the GIL for a
# moment per batch, and while the engine computes it waits up to the interval each time
# (5 ms by default): a durable 1,000-task run then waited longer for its last batch than
# its tasks took. At 1 ms that wait shrinks to a third; the engine is no slower.
_SWITCH = 0.001
_switch_saved: list[tuple[float, float]] = []


def _tune_for_runs() -> None:
    """The first run starts: collect the young generation less often, switch threads sooner."""
    before = gc.get_threshold()
    if before[0] and before[0] < _GC_YOUNG:
        ours = (_GC_YOUNG, max(before[1], 20), max(before[2], 20))
        _gc_saved[:] = [(before, ours)]
        gc.set_threshold(*ours)
    interval = sys.getswitchinterval()
    if interval > _SWITCH:
        sys.setswitchinterval(_SWITCH)
        _switch_saved[:] = [(interval, sys.getswitchinterval())]


def _tune_as_before() -> None:
    """The last run ended: both settings as they were, unless changed meanwhile."""
    if _gc_saved:
        before, ours = _gc_saved.pop()
        if gc.get_threshold() == ours:
            gc.set_threshold(*before)
    if _switch_saved:
        interval, ours_interval = _switch_saved.pop()
        if sys.getswitchinterval() == ours_interval:
            sys.setswitchinterval(interval)


_controller: LocalController | None = None
_controller_lock = threading.Lock()


def get_controller() -> LocalController:
    """The process-wide local controller, created on first use."""
    global _controller
    if _controller is None:
        with _controller_lock:
            if _controller is None:
                _controller = LocalController()
    return _controller
