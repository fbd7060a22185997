"""The durable time functions, built on sync traces usable from sync and async tasks."""

from __future__ import annotations

import asyncio
import datetime as _dt
import time as _time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from flyte._trace import trace

__all__ = ["now", "sleep", "time"]

T = TypeVar("T")


@trace
def durable_sleep_start() -> float:
    """When the sleep first started (replayed on retry and recover)."""
    return _time.time()


@trace
def durable_time() -> float:
    """The time of the first execution of this call."""
    return _time.time()


@trace
def durable_now() -> _dt.datetime:
    """The datetime of the first execution of this call."""
    return _dt.datetime.now()


class _Durable(Generic[T]):
    """A sync function with an async `.aio` twin that shares its checkpoint."""

    def __init__(self, func: Callable[[], T], doc: str) -> None:
        self._func = func
        self.__doc__ = doc

    def __call__(self) -> T:
        return self._func()

    async def aio(self) -> T:
        return self._func()


class _Sleep:
    """`flyte.durable.sleep(seconds)` and `await flyte.durable.sleep.aio(seconds)`."""

    __doc__ = "Sleep `seconds` in total since this call first started, across retries."

    @staticmethod
    def _remaining(seconds: float) -> float:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise TypeError(f"seconds must be a number, got {seconds!r}")
        return max(0.0, durable_sleep_start() + seconds - _time.time())

    def __call__(self, seconds: float) -> None:
        left = self._remaining(seconds)
        if left:
            _time.sleep(left)

    async def aio(self, seconds: float) -> None:
        left = self._remaining(seconds)
        if left:
            await asyncio.sleep(left)


sleep: Any = _Sleep()
time: _Durable[float] = _Durable(durable_time, "Like time.time(), but replayed: durable.")
now: _Durable[_dt.datetime] = _Durable(durable_now, "Like datetime.now(), but replayed: durable.")
