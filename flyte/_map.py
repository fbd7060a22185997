"""flyte.map (parallel, bounded, ordered), flyte.group and flyte.custom_context."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from flyte._context import ActionContext, current_action, group_var
from flyte.errors import ActionAborted, UserError

if TYPE_CHECKING:
    import asyncio
    import threading

    from flyte._controller import Controller

__all__ = ["aio_map", "custom_context", "custom_context_var", "drain_map", "group", "map"]

custom_context_var: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "flyte_custom_context", default=None
)


@contextlib.contextmanager
def group(name: str) -> Iterator[None]:
    """Group the actions started inside the block under `name` in the run tree.

    Example:
        with flyte.group("preprocess"):
            cleaned = await asyncio.gather(*(clean(p) for p in parts))
    """
    outer = group_var.get()
    token = group_var.set(f"{outer}/{name}" if outer else name)
    try:
        yield
    finally:
        group_var.reset(token)


@contextlib.contextmanager
def custom_context(**values: str) -> Iterator[None]:
    """Key/values visible as `flyte.ctx().custom_context` in tasks called inside the block."""
    outer = custom_context_var.get() or {}
    token = custom_context_var.set({**outer, **values})
    try:
        yield
    finally:
        custom_context_var.reset(token)


def _unwrap(func: Any) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
    if isinstance(func, functools.partial):
        inner, args, kwargs = _unwrap(func.func)
        return inner, (*args, *func.args), {**kwargs, **(func.keywords or {})}
    return func, (), {}


def _group_name(task: Any, group_name: str | None) -> str:
    return f"{getattr(task, 'short_name', getattr(task, '__name__', 'map'))}_{group_name or 'map'}"


def _calls(
    controller: Controller,
    parent: ActionContext,
    func: Any,
    iterables: tuple[Iterable[Any], ...],
    group_name: str | None,
) -> list[Callable[[], Coroutine[Any, Any, Any]]]:
    """One coroutine factory per item, checked now; they start (and are numbered) in order."""
    from flyte._task import TaskTemplate

    task, pargs, pkwargs = _unwrap(func)
    if not isinstance(task, TaskTemplate):
        raise UserError(f"flyte.map needs a task (or a functools.partial of one), got {func!r}")
    token = group_var.set(_group_name(task, group_name))
    try:
        return [
            controller.prepare(task, parent, (*pargs, *items), dict(pkwargs))
            for items in zip(*iterables, strict=False)
        ]
    finally:
        group_var.reset(token)


async def _run_all(
    factories: list[Callable[[], Coroutine[Any, Any, Any]]],
    concurrency: int,
    deliver: Callable[[int, bool, Any], None],
) -> None:
    """Run the calls, at most `concurrency` at once, delivering each outcome by index."""
    import asyncio

    sem = asyncio.Semaphore(concurrency) if concurrency > 0 else None

    async def one(index: int, factory: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        try:
            if sem is None:
                value = await factory()
            else:
                async with sem:
                    value = await factory()
        except BaseException as exc:
            deliver(index, False, exc)
            if not isinstance(exc, Exception):
                raise
            return
        deliver(index, True, value)

    await asyncio.gather(*(one(i, f) for i, f in enumerate(factories)))


async def _limited(sem: asyncio.Semaphore | None, coro: Coroutine[Any, Any, Any]) -> Any:
    if sem is None:
        return await coro
    async with sem:
        return await coro


def drain_map(
    controller: Controller,
    parent: ActionContext,
    func: Any,
    iterables: tuple[Iterable[Any], ...],
    group_name: str | None,
    concurrency: int,
    return_exceptions: bool,
    stopped: threading.Event | None = None,
) -> Iterator[Any]:
    """`flyte.map` from a sync body: run the calls on the controller's loop, yield in order.

    `stopped`, when set, ends the wait as an abort does (an own-loop body that timed out).
    """
    factories = _calls(controller, parent, func, iterables, group_name)
    return _drain(controller, factories, concurrency, return_exceptions, parent, stopped)


def _drain(
    controller: Controller,
    factories: list[Callable[[], Coroutine[Any, Any, Any]]],
    concurrency: int,
    return_exceptions: bool,
    parent: ActionContext,
    stopped: threading.Event | None = None,
) -> Iterator[Any]:
    import asyncio
    import queue

    outcomes: queue.SimpleQueue[tuple[int, bool, Any]] = queue.SimpleQueue()
    future = asyncio.run_coroutine_threadsafe(
        _run_all(factories, concurrency, lambda *o: outcomes.put(o)), controller.loop
    )
    run = parent.run
    run.detached.add(future)
    ready: dict[int, tuple[bool, Any]] = {}
    try:
        for index in range(len(factories)):
            while index not in ready:
                if future.cancelled() or (stopped is not None and stopped.is_set()):
                    raise ActionAborted(f"run {run.name} was aborted")
                # Waiting frees this thread's pool slot (nested maps never deadlock); wake
                # up regularly so an abort injected into this thread lands.
                with controller.blocking():
                    try:
                        i, ok, value = outcomes.get(timeout=0.2)
                    except queue.Empty:
                        continue
                ready[i] = (ok, value)
            ok, value = ready.pop(index)
            if ok:
                yield value
            elif not isinstance(value, Exception):
                raise ActionAborted(f"run {run.name} was aborted")
            elif return_exceptions:
                yield value
            else:
                raise value
    finally:
        run.detached.discard(future)
        future.cancel()


async def aio_map(
    controller: Controller,
    parent: ActionContext,
    func: Any,
    iterables: tuple[Iterable[Any], ...],
    group_name: str | None,
    concurrency: int,
    return_exceptions: bool,
) -> AsyncIterator[Any]:
    """`flyte.map.aio` from an async body: at most `concurrency` at once, in input order."""
    import asyncio

    sem = asyncio.Semaphore(concurrency) if concurrency > 0 else None
    tasks = [
        asyncio.ensure_future(_limited(sem, factory()))
        for factory in _calls(controller, parent, func, iterables, group_name)
    ]
    try:
        for t in tasks:
            try:
                yield await t
            except Exception as exc:
                if not return_exceptions:
                    raise
                yield exc
    finally:
        for t in tasks:
            t.cancel()


class _Map:
    """`flyte.map(task, *iterables, concurrency=0, return_exceptions=True)`; `.aio` is async."""

    def __call__(
        self,
        func: Callable[..., Any],
        *iterables: Iterable[Any],
        group_name: str | None = None,
        concurrency: int = 0,
        return_exceptions: bool = True,
    ) -> Iterator[Any]:
        """Run `func` over the iterables in parallel, yielding results in input order.

        Args:
            func: a task, or a functools.partial of one.
            *iterables: one iterable per remaining positional input.
            group_name: the group the calls appear under in the run tree.
            concurrency: at most this many at once; 0 means no limit.
            return_exceptions: yield a failed call's exception instead of raising it.
        """
        parent = current_action()
        if parent is None:
            return self._plain(func, iterables, return_exceptions)
        controller: Controller = parent.run.controller
        if controller.on_loop():
            raise UserError(
                "flyte.map blocks; inside an async task use `async for x in flyte.map.aio(...)`"
            )
        return controller.map(
            parent,
            func,
            iterables,
            group_name=group_name,
            concurrency=concurrency,
            return_exceptions=return_exceptions,
        )

    @staticmethod
    def _plain(
        func: Any, iterables: tuple[Iterable[Any], ...], return_exceptions: bool
    ) -> Iterator[Any]:
        for items in zip(*iterables, strict=False):
            try:
                yield func(*items)
            except Exception as exc:
                if not return_exceptions:
                    raise
                yield exc

    async def aio(
        self,
        func: Callable[..., Any],
        *iterables: Iterable[Any],
        group_name: str | None = None,
        concurrency: int = 0,
        return_exceptions: bool = True,
    ) -> AsyncIterator[Any]:
        """The async form of `flyte.map`: `async for result in flyte.map.aio(task, xs)`."""
        parent = current_action()
        if parent is None:
            for items in zip(*iterables, strict=False):
                try:
                    result = func(*items)
                    if inspect.isawaitable(result):
                        result = await result
                    yield result
                except Exception as exc:
                    if not return_exceptions:
                        raise
                    yield exc
            return
        controller: Controller = parent.run.controller
        async for item in controller.map_aio(
            parent,
            func,
            iterables,
            group_name=group_name,
            concurrency=concurrency,
            return_exceptions=return_exceptions,
        ):
            yield item


map = _Map()
