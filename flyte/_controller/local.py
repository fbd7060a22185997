"""The in-process engine: one background event loop, a thread pool, look-up before execute.

Async task bodies run as asyncio tasks on the loop; sync bodies run in a bounded thread
pool. Before an action executes, the controller looks it up: a recovered result from the
run being recovered, then the cache; only on a miss does the body run. Every step is
queued to the run store through a batching writer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import os
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from flyte import _serde
from flyte._cachekey import compute_key
from flyte._context import ActionContext, _current
from flyte._controller.heartbeat import Heartbeat
from flyte._controller.limits import at_depth, child_depth
from flyte._controller.state import RunOptions, RunState
from flyte._controller.writer import Writer
from flyte._models import CacheStatus, Phase
from flyte._store._liveness import this_process_start
from flyte._store.logs import capture_logs, flush_action_logs, release_logs
from flyte._typecheck import check_output
from flyte.errors import (
    ActionAborted,
    NonRecoverableError,
    RunAbortedError,
    SerializationError,
    StoreError,
    TaskTimeoutError,
    TraceCallError,
    as_user_error,
)
from flyte.report._report import REPORT_TASKS, finish_report

if TYPE_CHECKING:
    from flyte._store import RunStore
    from flyte._task import TaskTemplate

from flyte._controller.calls import (
    Call,
    Deadline,
    SyncTimeout,
    consume,
    error_fields,
    format_user_traceback,
    in_action,
    raise_in_thread,
    run_inputs_blob,
    with_deadline,
)

__all__ = ["LocalController", "format_user_traceback", "get_controller"]

_HOST = socket.gethostname()
# Enum .value lookups cost a descriptor call each; the hot path uses these constants.
_RUNNING = Phase.RUNNING.value
_SUCCEEDED = Phase.SUCCEEDED.value
_FAILED = Phase.FAILED.value
_ABORTED = Phase.ABORTED.value
_TIMED_OUT = Phase.TIMED_OUT.value
_CACHE_HIT = CacheStatus.HIT.value
_CACHE_WRITTEN = CacheStatus.WRITTEN.value
_UNLOADED: Any = object()


class LocalController:
    """Runs actions in this process; one instance per process (see `get_controller`)."""

    def __init__(self, max_workers: int = 256) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._loop_ident: int | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="flyte-task"
        )
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
                    self._loop = loop
        return self._loop

    def on_loop(self) -> bool:
        return threading.get_ident() == self._loop_ident

    def writer_for(self, store: RunStore) -> Writer:
        writer: Writer | None = getattr(store, "_flyte_writer", None)
        if writer is None:
            from flyte._store.memory import MemoryRunStore

            writer = Writer(store, threaded=not isinstance(store, MemoryRunStore))
            store._flyte_writer = writer  # type: ignore[attr-defined]
        return writer

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
        writer.put(
            (
                "run_insert",
                {
                    "name": name,
                    "task": task.name,
                    "phase": _RUNNING,
                    "created_at": now,
                    "started_at": now,
                    "inputs_json": _serde.encode_json(inputs),
                    "inputs_blob": run_inputs_blob(task, args, kwargs, inputs),
                    "pid": os.getpid(),
                    "pid_start": this_process_start(),
                    "host": _HOST,
                    "heartbeat": now,
                    "recovered_from": options.recover_from,
                    "settings": {
                        **run.settings(),
                        "source": source,
                        "output_arity": task.output_arity,
                    },
                    "labels": options.labels,
                    "task_blob": task_blob,
                },
            )
        )
        try:
            writer.flush()
        except StoreError as exc:
            # Recorded as FAILED, with the cause, once the store can be written again.
            writer.put(("run_update", name, {"phase": _FAILED, "ended_at": time.time(),
                                             "error_type": "StoreError",
                                             "error_message": str(exc)}))  # fmt: skip
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
        self._runs[run.name] = (run, current)
        self._heartbeat.ensure()
        fields: dict[str, Any]
        try:
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
            fields = {"phase": phase.value, "ended_at": time.time()}
            if aborted:
                fields.update(error_type="Aborted", error_message="the run was aborted")
                # Sync bodies cannot be stopped mid-call: their actions end ABORTED with the run.
                run.writer.put(("abort_actions", run.name, fields["ended_at"]))
            else:
                fields.update(error_fields(exc))
            self._finish_run(run, fields)
            if aborted:
                raise RunAbortedError(f"run {run.name} was aborted") from None
            raise
        fields = {
            "phase": _SUCCEEDED,
            "ended_at": time.time(),
            "outputs_json": _serde.encode_json(value),
        }
        try:
            fields["outputs_blob"] = _serde.dumps(value, what=f"the output of {task.name}")
        except SerializationError:
            fields["outputs_blob"] = None
        self._finish_run(run, fields)
        return value

    def _finish_run(self, run: RunState, fields: dict[str, Any]) -> None:
        run.writer.put(("run_update", run.name, fields))
        self._runs.pop(run.name, None)
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
            for ident in list(run.sync_threads.values()):
                raise_in_thread(ident, ActionAborted)

        self.loop.call_soon_threadsafe(cancel)
        return True

    # -- calls from user code ------------------------------------------------------

    def call(
        self,
        task: TaskTemplate[Any, Any],
        parent: ActionContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """Route a task call made inside a run (see DESIGN.md section 2, four combinations)."""
        coro = self.call_coro(task, parent, args, kwargs)
        if self.on_loop():
            if task.is_async:
                return coro
            # A sync task from async code starts at once; the parent outlives the handle.
            handle = self.loop.create_task(coro)
            parent.pending.append(handle)
            return handle
        return self.wait_from_thread(coro, parent)

    def wait_from_thread(self, coro: Coroutine[Any, Any, Any], parent: ActionContext) -> Any:
        """Run `coro` on the loop and block this worker thread until it is done.

        The future is registered with the run, so an abort cancels it (and this thread
        stops waiting) even though no asyncio task awaits it.
        """
        run = parent.run
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        run.detached.add(future)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise ActionAborted(f"run {run.name} was aborted") from None
        finally:
            run.detached.discard(future)

    def call_coro(
        self,
        task: TaskTemplate[Any, Any],
        parent: ActionContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Coroutine[Any, Any, Any]:
        """A coroutine running the task as a child action of `parent` (ids fixed now)."""
        return self.prepare(task, parent, args, kwargs)()

    def prepare(
        self,
        task: TaskTemplate[Any, Any],
        parent: ActionContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Callable[[], Coroutine[Any, Any, Any]]:
        """Fix the call's id now; return a factory for the coroutine that runs it.

        `flyte.map` creates the coroutines only when they are about to run, so calls that
        an abort cancels before they start leave no never-awaited coroutine behind.
        """
        if parent.in_trace:
            raise TraceCallError(
                f"task {task.name} was called inside a @flyte.trace function; traces are "
                "checkpoints inside one task and cannot start tasks"
            )
        if parent.run.aborted.is_set():
            raise ActionAborted(f"run {parent.run.name} was aborted")
        failed = parent.run.writer.run_error(parent.run.name)
        if failed is not None:  # the store cannot record this run: stop, with the cause
            raise failed
        depth = child_depth(task.name)  # a clear error long before Python's recursion limit
        call = Call(task, parent, args, kwargs)
        return functools.partial(
            at_depth,
            depth,
            functools.partial(self._run_action, task, call, args, kwargs, run=parent.run),
        )

    # -- one action ----------------------------------------------------------------

    async def _run_action(
        self,
        task: TaskTemplate[Any, Any],
        call: Call,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        run: RunState,
    ) -> Any:
        inputs, ihash = call.inputs, call.inputs_hash
        aid, seq, parent_id, group = call.id, call.seq, call.parent_id, call.group
        writer = run.writer
        started = time.time()
        writer.put(
            (
                "action_insert",
                {
                    "run": run.name,
                    "id": aid,
                    "parent": parent_id,
                    "name": task.name,
                    "kind": "task",
                    "phase": _RUNNING,
                    "grp": group,
                    "inputs_hash": ihash,
                    "inputs_json": _serde.encode_json(inputs),
                    "started_at": started,
                    "attempts": 1,
                    "settings": task.settings,
                    "seq": seq,
                },
            )
        )

        # Look up before execute: recovered result, then cache.
        recovered = run.recovered.get(aid)
        if (
            recovered is not None
            and recovered[0] == ihash
            and recovered[1] is not None
            and (found := _serde.trusted_loads(recovered[1], what=f"recovered {aid}"))[0]
        ):
            value = found[1]
            writer.update_action(
                run.name,
                aid,
                {
                    "phase": _SUCCEEDED,
                    "recovered": 1,
                    "outputs_json": _serde.encode_json(value),
                    "outputs_blob": recovered[1],
                    "ended_at": time.time(),
                },
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
                writer.update_action(
                    run.name, aid, {"phase": _FAILED, "ended_at": time.time(), **error_fields(err)}
                )
                raise err from exc
            cache_status = CacheStatus.MISS
            if not run.options.overwrite_cache:
                recent = writer.recent_cache.get(key.key)
                if recent is None:
                    recent = self._cache_lookup(run, task.name, key.key)
                if (
                    recent is not None
                    and (
                        hit := _serde.trusted_loads(recent[1], what=f"cache entry of {task.name}")
                    )[0]
                ):
                    out_json, value = recent[0], hit[1]
                    writer.update_action(
                        run.name,
                        aid,
                        {
                            "phase": _SUCCEEDED,
                            "cache_status": _CACHE_HIT,
                            "cache_key": key.key,
                            "outputs_json": out_json,
                            "ended_at": time.time(),
                        },
                    )
                    return value

        value, blob, out_json = await self._execute(task, run, aid, args, kwargs, cache_status)
        end: dict[str, Any] = {
            "phase": _SUCCEEDED,
            "outputs_json": out_json,
            "outputs_blob": blob,
            "ended_at": time.time(),
            "cache_status": cache_status.value,
        }
        if key is not None:
            # Stored once: the cache entry keeps the exact value, the action refers to it by
            # key (the store reads it from there, as for a cache hit).
            end["outputs_blob"] = None
            end["cache_key"] = key.key
            end["cache_status"] = _CACHE_WRITTEN
            if len(writer.recent_cache) > 10_000:
                writer.recent_cache.clear()
            writer.recent_cache[key.key] = (out_json, blob)
            writer.put(
                (
                    "cache_put",
                    {
                        "key": key.key,
                        "task": task.name,
                        "parts": key.parts,
                        "outputs_json": out_json,
                        "outputs_blob": blob,
                        "created_at": end["ended_at"],
                        "run": run.name,
                        "action": aid,
                    },
                )
            )
        writer.update_action(run.name, aid, end)
        return value

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
    ) -> tuple[Any, bytes, str]:
        """Run the body with retries and timeout; record attempts; return value and forms."""
        writer = run.writer
        retries = task.retries
        attempts = retries.count + 1
        if task.report:  # also a task restored from a snapshot (deployed, notebook rerun)
            REPORT_TASKS.add(task.name)
        runtime = task.timeout.seconds if task.timeout is not None else None
        # Timeout(deadline=) bounds the action across all its attempts.
        deadline = task.timeout.deadline_seconds if task.timeout is not None else None
        first_start = time.time()
        timeout = runtime
        for attempt in range(1, attempts + 1):
            child = ActionContext(run=run, action_id=aid, task_name=task.name, attempt=attempt)
            attempt_start = time.time()
            if deadline is not None:
                left = max(deadline - (attempt_start - first_start), 0.001)
                timeout = left if runtime is None else min(runtime, left)
            if attempt > 1:
                writer.update_action(run.name, aid, {"attempts": attempt, "phase": _RUNNING})
            try:
                run.apply_env(task.env_name, task.env_values)
                if task.is_async:
                    coro = in_action(child, task.func, args, kwargs)
                    value = await (coro if timeout is None else with_deadline(coro, timeout))
                else:
                    value = await self._run_sync(child, task, args, kwargs, timeout)
                if child.pending:
                    await asyncio.gather(*child.pending, return_exceptions=True)
                    if isinstance(value, asyncio.Future) and value in child.pending:
                        # An async body returned a sync child's handle without awaiting it.
                        value = value.result()
                check_output(task, value)
                blob = _serde.dumps(value, what=f"the output of {task.name}")
                out_json = _serde.encode_json(value)
            except BaseException as exc:
                flush_action_logs(child)
                if task.report:
                    finish_report(child)
                if child.pending:
                    for handle in child.pending:
                        handle.cancel()
                if isinstance(exc, Deadline):
                    if deadline is not None and timeout != runtime:
                        exc = TaskTimeoutError(
                            f"{task.name} passed its deadline of {deadline:g}s and was stopped"
                        )
                        attempts = attempt  # past the deadline no retry may start
                    else:
                        exc = TaskTimeoutError(
                            f"{task.name} ran longer than its timeout of {runtime:g}s and was "
                            "stopped"
                        )
                aborted = isinstance(
                    exc, asyncio.CancelledError | ActionAborted | KeyboardInterrupt
                )
                phase = (
                    Phase.ABORTED
                    if aborted
                    else (Phase.TIMED_OUT if isinstance(exc, TaskTimeoutError) else Phase.FAILED)
                )
                err = {} if aborted else error_fields(exc)
                now = time.time()
                writer.put(
                    (
                        "attempt_upsert",
                        {
                            "run": run.name,
                            "action": aid,
                            "attempt": attempt,
                            "phase": phase.value,
                            "started_at": attempt_start,
                            "ended_at": now,
                            "error_type": err.get("error_type"),
                            "error_message": err.get("error_message"),
                        },
                    )
                )
                retryable = (
                    not aborted
                    and attempt < attempts
                    and isinstance(exc, Exception)
                    and not isinstance(exc, NonRecoverableError | SerializationError)
                )
                if retryable:
                    delay = retries.delay(attempt)
                    if delay:
                        await asyncio.sleep(delay)
                    continue
                writer.update_action(
                    run.name,
                    aid,
                    {
                        "phase": phase.value,
                        "attempts": attempt,
                        "ended_at": now,
                        "cache_status": cache_status.value,
                        **err,
                    },
                )
                if aborted:
                    raise
                raise as_user_error(exc) from None
            flush_action_logs(child)
            if task.report:
                finish_report(child)
            if run.aborted.is_set():  # a sync body that finished after its run was aborted
                writer.update_action(run.name, aid, {"phase": _ABORTED, "ended_at": time.time()})
                raise ActionAborted(f"run {run.name} was aborted")
            writer.put(
                (
                    "attempt_upsert",
                    {
                        "run": run.name,
                        "action": aid,
                        "attempt": attempt,
                        "phase": _SUCCEEDED,
                        "started_at": attempt_start,
                        "ended_at": time.time(),
                    },
                )
            )
            return value, blob, out_json
        raise AssertionError("unreachable: the attempt loop returns or raises")

    async def _run_sync(
        self,
        child: ActionContext,
        task: TaskTemplate[Any, Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        timeout: float | None,
    ) -> Any:
        run = child.run
        key = f"{child.action_id}:{child.attempt}"

        def body() -> Any:
            run.sync_threads[key] = threading.get_ident()
            token = _current.set(child)
            try:
                return task.func(*args, **kwargs)
            finally:
                _current.reset(token)
                run.sync_threads.pop(key, None)

        ctx = contextvars.copy_context()
        future = self.loop.run_in_executor(self._pool, functools.partial(ctx.run, body))
        try:
            if timeout is None:
                return await asyncio.shield(future)
            done, _ = await asyncio.wait({future}, timeout=timeout)
            if done:
                return future.result()
            # The caller gets TaskTimeoutError now; the thread is asked to stop too, and
            # whatever it ends with later is consumed here, not reported as unretrieved.
            future.add_done_callback(consume)
            ident = run.sync_threads.get(key)
            if ident is not None:
                raise_in_thread(ident, SyncTimeout)
            raise Deadline
        except asyncio.CancelledError:
            future.add_done_callback(consume)
            ident = run.sync_threads.get(key)
            if ident is not None:
                raise_in_thread(ident, ActionAborted)
            raise


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
