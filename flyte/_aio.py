"""`.aio` twins of module functions (`await flyte.init_from_config.aio()`), as upstream.

Upstream makes every module-level API function "syncified": callable plainly and as
`await f.aio(...)`. `twin(f)` gives a sync function that second form; a blocking one
runs in a worker thread so it does not stall the caller's event loop.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Generic, ParamSpec, TypeVar

__all__ = ["Twin", "twin"]

P = ParamSpec("P")
R = TypeVar("R")


class Twin(Generic[P, R]):
    """A function callable as `f(...)` and as `await f.aio(...)`."""

    def __init__(self, func: Callable[P, R], *, blocking: bool) -> None:
        self._func = func
        self._blocking = blocking
        functools.update_wrapper(self, func)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._func(*args, **kwargs)

    async def aio(self, *args: P.args, **kwargs: P.kwargs) -> R:
        if self._blocking:
            return await asyncio.to_thread(self._func, *args, **kwargs)
        return self._func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<flyte function {self._func.__qualname__}>"


def twin(func: Callable[P, R], *, blocking: bool = False) -> Twin[P, R]:
    """Give `func` an awaitable `.aio` form."""
    return Twin(func, blocking=blocking)
