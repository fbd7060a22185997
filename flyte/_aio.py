"""`.aio` twins of module functions (`await flyte.init_from_config.aio()`), as upstream.

Upstream makes every module-level API function "syncified": callable plainly and as
`await f.aio(...)`. `twin(f)` gives a sync function that second form; a blocking one
runs in a worker thread so it does not stall the caller's event loop.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

__all__ = ["AioMethod", "Twin", "aio_method", "twin"]

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class Twin(Generic[P, R_co]):
    """A function callable as `f(...)` and as `await f.aio(...)`."""

    def __init__(self, func: Callable[P, R_co], *, blocking: bool) -> None:
        self._func = func
        self._blocking = blocking
        functools.update_wrapper(self, func)  # a partial has no __name__: kept as is

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co:
        return self._func(*args, **kwargs)

    async def aio(self, *args: P.args, **kwargs: P.kwargs) -> R_co:
        if self._blocking:
            return await asyncio.to_thread(self._func, *args, **kwargs)
        return self._func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<flyte function {getattr(self, '__qualname__', repr(self._func))}>"


def twin(func: Callable[P, R], *, blocking: bool = False) -> Twin[P, R]:
    """Give `func` an awaitable `.aio` form."""
    return Twin(func, blocking=blocking)


S = TypeVar("S")


class AioMethod(Generic[S, P, R_co]):
    """A method callable as `obj.m(...)` and as `await obj.m.aio(...)` (upstream's syncify).

    Example:
        class Run:
            @aio_method
            def wait(self) -> Run: ...

        await run.wait.aio()
    """

    def __init__(self, func: Callable[Concatenate[S, P], R_co]) -> None:
        self._func = func
        functools.update_wrapper(self, func)

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> AioMethod[S, P, R_co]: ...

    @overload
    def __get__(self, obj: S, owner: type[Any]) -> Twin[P, R_co]: ...

    def __get__(self, obj: S | None, owner: type[Any]) -> AioMethod[S, P, R_co] | Twin[P, R_co]:
        if obj is None:
            return self
        bound = Twin(functools.partial(self._func, obj), blocking=True)
        bound.__name__ = self._func.__name__  # type: ignore[attr-defined]
        bound.__qualname__ = self._func.__qualname__  # type: ignore[attr-defined]
        return bound  # type: ignore[return-value]

    def __call__(self, obj: S, *args: P.args, **kwargs: P.kwargs) -> R_co:
        return self._func(obj, *args, **kwargs)


def aio_method(func: Callable[Concatenate[S, P], R]) -> AioMethod[S, P, R]:
    """Give a method an awaitable `.aio` form (run in a worker thread)."""
    return AioMethod(func)
