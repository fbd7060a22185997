"""Async bodies that make blocking flyte calls run on an event loop of their own.

Upstream lets an async task call the blocking `flyte.map(...)`. Here async bodies run on
the engine's loop, and a blocking wait there would stop the very loop its children need.
So a task whose body uses `flyte.map` without `.aio` (read once from its bytecode, see
`needs_own_loop`) runs on a fresh loop in a pool thread instead:

- a blocking `flyte.map` blocks only that thread, while the engine's loop runs the calls;
- awaited calls (`await task(...)`, `task.aio`, `flyte.map.aio`, a sync task's handle) are
  bridged: the child action runs on the engine's loop, the body awaits it on its own loop;
- abort and timeout cancel the body's task and stop a blocking map it waits in.

Every other async body keeps running on the engine's loop: the common path pays nothing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import threading
import types
from collections.abc import Callable, Coroutine, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from flyte._controller import MapsByCalls
from flyte._controller.calls import in_action, thread_stack
from flyte.errors import ActionAborted

if TYPE_CHECKING:
    from flyte._context import ActionContext
    from flyte._controller import Controller
    from flyte._task import TaskTemplate

__all__ = ["Bridge", "OwnLoopBody", "RunView", "needs_own_loop"]

_LOADS = frozenset({"LOAD_ATTR", "LOAD_METHOD"})
_GLOBALS = frozenset({"LOAD_GLOBAL", "LOAD_NAME"})
_HELPER_DEPTH = 3  # how deep plain helper functions the body calls are read


def needs_own_loop(task: TaskTemplate[Any, Any]) -> bool:
    """Whether `task`'s async body calls the blocking `flyte.map` (decided once per task)."""
    flag = task._flyte_own_loop
    if flag is None:
        flag = task._flyte_own_loop = _blocks(task.func, 0, set())
    return flag


def _codes(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def _blocks(func: Any, depth: int, seen: set[types.CodeType]) -> bool:
    """`func` (or a plain function it calls by global name) uses `flyte.map` without `.aio`.

    Any `.map` attribute not followed by `.aio` counts (`pool.map` too): a false positive
    only moves the body to its own loop, which behaves the same, a little slower.
    """
    import dis

    from flyte._map import map as flyte_map

    func = _unwrap(func)
    code = getattr(func, "__code__", None)
    if not isinstance(code, types.CodeType) or code in seen:
        return False
    seen.add(code)
    names: dict[str, Any] = getattr(func, "__globals__", {})
    for co in _codes(code):
        ins = list(dis.get_instructions(co))
        for i, op in enumerate(ins):
            if (op.opname in _LOADS and op.argval == "map") or (
                op.opname in _GLOBALS
                and names.get(op.argval) is flyte_map  # `from flyte import map`
            ):
                nxt = ins[i + 1] if i + 1 < len(ins) else None
                if nxt is None or not (nxt.opname in _LOADS and nxt.argval == "aio"):
                    return True
            elif op.opname in _GLOBALS and depth < _HELPER_DEPTH:
                helper = names.get(op.argval)
                if isinstance(helper, types.FunctionType) and _blocks(helper, depth + 1, seen):
                    return True
    return False


def _unwrap(func: Any) -> Any:
    """The function under `functools.wraps` decorators and partials."""
    import inspect

    while isinstance(func, functools.partial):
        func = func.func
    return inspect.unwrap(func)


class RunView:
    """The body's run as its own-loop body sees it: the same run, calls go through `Bridge`."""

    __slots__ = ("_run", "controller")

    def __init__(self, run: Any, controller: Bridge) -> None:
        object.__setattr__(self, "_run", run)
        object.__setattr__(self, "controller", controller)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._run, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._run, name, value)


class Bridge(MapsByCalls):
    """The Controller an own-loop body calls: child actions run on the engine's loop."""

    def __init__(
        self, inner: Controller, own: asyncio.AbstractEventLoop, stopped: threading.Event
    ) -> None:
        self.inner = inner
        self.own = own
        self.stopped = stopped

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self.inner.loop

    def on_loop(self) -> bool:
        # The body is not on the engine's loop: blocking calls may wait here.
        return False

    def start_run(self, **kwargs: Any) -> Any:
        return self.inner.start_run(**kwargs)

    def call(
        self,
        task: TaskTemplate[Any, Any],
        parent: ActionContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        if asyncio._get_running_loop() is not self.own:
            # Another thread of the body (asyncio.to_thread): a blocking call, as in a sync body.
            return self.inner.call(task, parent, args, kwargs)
        coro = self.call_aio(task, parent, args, kwargs)
        if task.is_async:
            return coro
        handle = self.own.create_task(coro)  # a sync child starts at once, as on the engine
        parent.pending.append(handle)
        return handle

    def call_aio(
        self,
        task: TaskTemplate[Any, Any],
        parent: ActionContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Coroutine[Any, Any, Any]:
        return self._bridged(self.inner.prepare(task, parent, args, kwargs)(), parent)

    def prepare(
        self,
        task: TaskTemplate[Any, Any],
        parent: ActionContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Callable[[], Coroutine[Any, Any, Any]]:
        factory = self.inner.prepare(task, parent, args, kwargs)
        return lambda: self._bridged(factory(), parent)

    async def _bridged(self, coro: Coroutine[Any, Any, Any], parent: ActionContext) -> Any:
        """Run `coro` on the engine's loop; await its outcome on the body's own loop."""
        run = parent.run
        future = asyncio.run_coroutine_threadsafe(coro, self.inner.loop)
        run.detached.add(future)  # an abort cancels it, as any wait from a thread
        try:
            return await asyncio.wrap_future(future)
        finally:
            run.detached.discard(future)

    def map(
        self,
        parent: ActionContext,
        func: Any,
        iterables: tuple[Iterable[Any], ...],
        *,
        group_name: str | None,
        concurrency: int,
        return_exceptions: bool,
    ) -> Iterator[Any]:
        """The blocking `flyte.map`: this thread waits, the engine's loop runs the calls."""
        from flyte._map import drain_map

        return drain_map(
            self.inner,
            parent,
            func,
            iterables,
            group_name,
            concurrency,
            return_exceptions,
            stopped=self.stopped,
        )

    def blocking(self) -> contextlib.AbstractContextManager[None]:
        return self.inner.blocking()

    def abort(self, run_name: str) -> bool:
        return self.inner.abort(run_name)

    def wait(self, future: concurrent.futures.Future[Any], timeout: float | None = None) -> bool:
        return self.inner.wait(future, timeout)


class OwnLoopBody:
    """One attempt of an async body on a loop of its own; `run` is called in a pool thread.

    Example:
        body = OwnLoopBody(child, task, args, kwargs, controller)
        value = body.run()   # in a worker thread; body.stop() from any thread cancels it
    """

    def __init__(
        self,
        child: ActionContext,
        task: TaskTemplate[Any, Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        controller: Controller,
    ) -> None:
        self.child = child
        self.task = task
        self.args = args
        self.kwargs = kwargs
        self.controller = controller
        self.stopped = threading.Event()
        self.ident: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task[Any] | None = None

    def run(self) -> Any:
        """Run the body to its end on a new loop in this thread; its value, or it raises."""
        self.ident = threading.get_ident()
        child = self.child
        real = child.run
        try:
            with asyncio.Runner() as runner:
                loop = runner.get_loop()
                child.run = RunView(real, Bridge(self.controller, loop, self.stopped))  # type: ignore[assignment]
                self._loop = loop
                try:
                    return runner.run(self._body())
                except asyncio.CancelledError:
                    if self.stopped.is_set():
                        raise ActionAborted(f"run {real.name} was aborted") from None
                    raise
        finally:
            self._loop = None
            child.run = real

    async def _body(self) -> Any:
        self._main = asyncio.current_task()
        if self.stopped.is_set():  # stopped before the loop ran: do not start the body
            raise asyncio.CancelledError
        return await in_action(self.child, self.task.func, self.args, self.kwargs)

    def where(self) -> str:
        """Where the body's thread is now (user frames), for a timeout's traceback."""
        return thread_stack(self.ident) if self.ident is not None else ""

    def stop(self) -> None:
        """Cancel the body (abort, timeout): its awaits are cancelled, a blocking map stops."""
        self.stopped.set()
        loop, main = self._loop, self._main
        if loop is not None and main is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nothing to stop
                loop.call_soon_threadsafe(main.cancel)

    cancel = stop
