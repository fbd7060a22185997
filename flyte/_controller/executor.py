"""Executors: where one attempt of one action runs. The inline executor runs it here.

The controller (`local.py`) owns everything durable: ids, look-up before execute, the
retry loop, recording. An executor only runs an attempt and reports back:

- it returns the body's value (and may fill `attempt.blob` / `attempt.out_json` when the
  value arrived already serialized, e.g. from a worker process);
- or raises: the body's own exception; `Deadline` when the attempt's timeout passed;
  `asyncio.CancelledError` / `ActionAborted` when the run was aborted; `OOMError` over
  the memory limit; `RuntimeSystemError` when the process running it died;
- and describes where it ran in `attempt.placement` (recorded with the attempt).

`InlineExecutor` is today's in-process path: async bodies as asyncio tasks on the
controller's loop, sync bodies on the `SyncPool` threads. The process executor
(`process.py`) and the Dask executor implement the same protocol.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from flyte._context import _current
from flyte._controller.calls import (
    LATE_INTERRUPTIONS,
    BodyExit,
    Deadline,
    SyncTimeout,
    consume,
    in_action,
    thread_stack,
    with_deadline,
)
from flyte._controller.own_loop import needs_own_loop
from flyte._controller.threads import SyncPool
from flyte.errors import ActionAborted

if TYPE_CHECKING:
    from flyte._context import ActionContext
    from flyte._controller.recorder import Placement
    from flyte._task import TaskTemplate

__all__ = ["Attempt", "Executor", "InlineExecutor"]

_INLINE: Placement = {"worker": "inline"}


class Attempt:
    """One attempt of one action, handed to an executor; the executor fills the results."""

    __slots__ = ("args", "blob", "context", "kwargs", "out_json", "placement", "task", "timeout")

    def __init__(
        self,
        task: TaskTemplate[Any, Any],
        context: ActionContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        timeout: float | None,
    ) -> None:
        self.task = task
        self.context = context
        self.args = args
        self.kwargs = kwargs
        self.timeout = timeout
        self.blob: bytes | None = None
        self.out_json: str | None = None
        self.placement: Placement = _INLINE


class Executor(Protocol):
    """Runs one attempt somewhere and reports back (see the module docstring)."""

    name: str

    def run_attempt(self, attempt: Attempt) -> Awaitable[Any]:
        """Run the attempt's body; its value, or it raises (see the module docstring).

        Usually an `async def`; the inline executor returns the body's coroutine itself.
        """

    def shutdown(self) -> None:
        """Stop whatever the executor started (threads, worker processes, clients)."""


class InlineExecutor:
    """Runs bodies in this process: async on the controller's loop, sync on daemon threads."""

    name = "inline"

    def __init__(self, loop: asyncio.AbstractEventLoop, max_threads: int = 256) -> None:
        self.loop = loop
        self.pool = SyncPool(max_threads)

    def run_attempt(self, attempt: Attempt) -> Awaitable[Any]:
        """The attempt as an awaitable (for an async body, the body's own coroutine).

        Not a coroutine function itself: one coroutine frame less per action on the
        engine's hottest path.
        """
        task = attempt.task
        child = attempt.context
        # Threads share one os.environ: env vars are set for the run (conflicts refused).
        values = task.env_values
        if values:
            child.run.apply_env(task.env_name, values)
        if not task.is_async:
            return self._run_sync(attempt)
        if task._flyte_own_loop is not False and needs_own_loop(task):
            return self._run_own_loop(attempt)
        coro = in_action(child, task.func, attempt.args, attempt.kwargs)
        timeout = attempt.timeout
        return coro if timeout is None else with_deadline(coro, timeout)

    async def _run_sync(self, attempt: Attempt) -> Any:
        child = attempt.context
        run = child.run
        key = f"{child.action_id}:{child.attempt}"
        threads = run.sync_threads
        func, args, kwargs = attempt.task.func, attempt.args, attempt.kwargs

        def body() -> Any:
            threads.enter(key)
            try:
                token = _current.set(child)
                try:
                    return func(*args, **kwargs)
                except (SystemExit, KeyboardInterrupt) as exc:
                    # These must not unwind the engine: they fail this action instead.
                    raise BodyExit(exc) from None
                finally:
                    _current.reset(token)
            finally:
                while True:  # see SyncThreads.leave
                    try:
                        threads.leave(key)
                        break
                    except LATE_INTERRUPTIONS:
                        pass

        def stop(why: type[BaseException]) -> str:
            ident = threads.ident(key)
            if ident is None:
                return ""
            where = thread_stack(ident) if why is SyncTimeout else ""
            threads.interrupt(key, why)  # unless the body ended meanwhile
            return where

        ctx = contextvars.copy_context()
        return await self._in_thread(functools.partial(ctx.run, body), attempt.timeout, stop)

    async def _in_thread(
        self,
        body: Callable[[], Any],
        timeout: float | None,
        stop: Callable[[type[BaseException]], str],
    ) -> Any:
        """Run `body` on a pool thread and await it; past `timeout` or on abort, `stop` it.

        `stop(SyncTimeout)` or `stop(ActionAborted)` asks the body to end and returns where
        it was (for the timeout's traceback). The caller gets TaskTimeoutError at once;
        whatever the thread ends with later is consumed here, not reported as unretrieved.
        """
        future = self.loop.run_in_executor(self.pool, body)
        try:
            if timeout is None:
                return await asyncio.shield(future)
            done, _ = await asyncio.wait({future}, timeout=timeout)
            if done:
                return future.result()
            future.add_done_callback(consume)
            raise Deadline(stop(SyncTimeout))
        except asyncio.CancelledError:
            future.add_done_callback(consume)
            stop(ActionAborted)
            raise

    async def _run_own_loop(self, attempt: Attempt) -> Any:
        """An async body that calls the blocking `flyte.map`: on its own loop, in a thread."""
        from flyte._controller.own_loop import OwnLoopBody

        child = attempt.context
        body = OwnLoopBody(child, attempt.task, attempt.args, attempt.kwargs, child.run.controller)

        def stop(why: type[BaseException]) -> str:
            where = body.where() if why is SyncTimeout else ""
            body.stop()
            return where

        ctx = contextvars.copy_context()
        return await self._in_thread(functools.partial(ctx.run, body.run), attempt.timeout, stop)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False)
