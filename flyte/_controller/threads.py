"""The thread pool of sync task bodies: bounded, but never deadlocked by nesting.

A sync body that calls another sync task blocks its thread until the child is done. With
a plain bounded pool, 256 such parents hold all 256 threads and their children wait for
a thread forever. Here a thread that blocks on a child (`blocking()`) stops counting
against the bound while it waits, so the child always gets a thread: the bound limits
threads that *run* Python, not threads that wait (ForkJoinPool's "compensation").

Threads are daemons: a body stuck in `time.sleep` or a C call must not keep the
interpreter alive after its run was aborted or timed out (concurrent.futures joins its
threads at exit, which is what made Ctrl-C hang until the sleep ended).
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["SyncPool"]

_IDLE_EXIT = 30.0


class _Slot:
    """An idle thread's mailbox: `item`, and a raw lock held until work is handed over.

    A bare lock used as a binary semaphore is the cheapest hand-off there is (an Event is
    a Condition and two locks).
    """

    __slots__ = ("item", "wake")

    def __init__(self, item: Any) -> None:
        self.item = item
        self.wake = threading.Lock()
        self.wake.acquire()


class SyncPool(concurrent.futures.Executor):
    """Runs callables on daemon threads, at most `limit` of them not blocked at once.

    Example:
        pool = SyncPool(256)
        future = loop.run_in_executor(pool, body)
        # inside body, around a wait for a child action:
        with pool.blocking():
            child_future.result()
    """

    def __init__(self, limit: int = 256, name: str = "flyte-task") -> None:
        self._limit = limit
        self._name = name
        self._lock = threading.Lock()
        self._queue: collections.deque[Any] = collections.deque()
        self._idle: list[_Slot] = []
        self._active = 0
        self._count = 0
        self._local = threading.local()

    @property
    def active(self) -> int:
        """Threads running a body and not blocked on a child."""
        return self._active

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._hand((future, fn, args, kwargs))
        return future

    def start(self, fn: Callable[..., Any], /, *args: Any) -> None:
        """Run `fn(*args)` on a pool thread, with no future (it reports its own outcome)."""
        self._hand((None, fn, args, {}))

    def _hand(self, item: tuple[Any, ...]) -> None:
        with self._lock:
            if self._active >= self._limit:
                self._queue.append(item)
                return
            self._active += 1
            if self._idle:
                slot = self._idle.pop()
                slot.item = item
                slot.wake.release()
                return
            self._count += 1
            count = self._count
        threading.Thread(
            target=self._serve, args=(_Slot(item),), name=f"{self._name}-{count}", daemon=True
        ).start()

    def _serve(self, slot: _Slot) -> None:
        self._local.in_pool = True
        item = slot.item
        while True:
            future, fn, args, kwargs = item
            if future is None:
                try:
                    fn(*args)
                except BaseException as exc:  # `start` callers report their own errors
                    print(f"flyte: a pool job failed: {exc!r}", file=sys.__stderr__)
            elif future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            del future, fn, args, kwargs
            with self._lock:
                self._active -= 1
                if self._queue and self._active < self._limit:
                    item = self._queue.popleft()
                    self._active += 1
                    continue
                slot.item = None
                self._idle.append(slot)
            if not slot.wake.acquire(timeout=_IDLE_EXIT):
                with self._lock:
                    if slot.item is None:  # not handed work while timing out: leave
                        self._idle.remove(slot)
                        return
                slot.wake.acquire()  # handed work just now: take the release that came
            item = slot.item

    @contextlib.contextmanager
    def blocking(self) -> Iterator[None]:
        """While inside, this pool thread waits (for a child) and does not count as active."""
        if not getattr(self._local, "in_pool", False):
            yield
            return
        starts: list[_Slot] = []
        with self._lock:
            self._active -= 1
            while self._queue and self._active < self._limit:
                item = self._queue.popleft()
                self._active += 1
                if self._idle:
                    slot = self._idle.pop()
                    slot.item = item
                    slot.wake.release()
                else:
                    starts.append(_Slot(item))
                    self._count += 1
        for slot in starts:
            threading.Thread(
                target=self._serve, args=(slot,), name=f"{self._name}-{self._count}", daemon=True
            ).start()
        try:
            yield
        finally:
            with self._lock:
                self._active += 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            queued, self._queue = list(self._queue), collections.deque()
        for future, *_ in queued:
            future.cancel()
