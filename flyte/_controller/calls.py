"""Helpers of the local controller: call identity, user tracebacks, deadlines, threads.

Kept apart from `local.py` so the controller reads as the look-up-before-execute flow.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import os
import sys
import threading
import traceback
import types
from collections.abc import Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any

from flyte import _serde
from flyte._context import ActionContext, _current, group_var
from flyte._controller.sequencer import ROOT_ID, action_id
from flyte._hashing import hash_inputs
from flyte._typecheck import check_args, check_inputs
from flyte.errors import (
    ActionAborted,
    SerializationError,
    TraceCallError,
)

if TYPE_CHECKING:
    from flyte._controller.recorder import ErrorFields
    from flyte._task import TaskTemplate

__all__ = [
    "LATE_INTERRUPTIONS",
    "BodyExit",
    "Call",
    "Deadline",
    "FROM_CONTEXT",
    "Settled",
    "SyncThreads",
    "SyncTimeout",
    "consume",
    "error_fields",
    "format_user_traceback",
    "in_action",
    "raise_in_thread",
    "resume_in",
    "run_inputs_blob",
    "thread_stack",
    "wait_pending",
    "with_deadline",
]

_FLYTE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_ASYNCIO_DIR = os.path.dirname(asyncio.__file__)
_CONCURRENT_DIR = os.path.dirname(concurrent.futures.__file__)
_THREADING_FILE = threading.__file__


def _walk(tb: Any) -> Iterator[Any]:
    while tb is not None:
        yield tb
        tb = tb.tb_next


@functools.lru_cache(maxsize=4096)
def _is_engine_file(filename: str) -> bool:
    return (
        filename.startswith(_FLYTE_DIR + os.sep)
        or filename.startswith(_ASYNCIO_DIR)
        or filename.startswith(_CONCURRENT_DIR)
        or filename == _THREADING_FILE
    )


def _user_frames(frames: traceback.StackSummary) -> list[traceback.FrameSummary]:
    return [f for f in frames if not _is_engine_file(f.filename)]


def format_user_traceback(exc: BaseException) -> str:
    """The traceback of `exc` with flyte's and asyncio's own frames left out.

    An exception that crossed a process boundary lost its frames; the text formatted
    where it was raised travels with it as `__flyte_traceback__`.
    """
    carried = getattr(exc, "__flyte_traceback__", None)
    if isinstance(carried, str) and carried:
        return carried
    # Engine frames are dropped before any frame is summarized: a failure that unwinds
    # through many nested actions carries thousands of them.
    user = (
        (tb.tb_frame, tb.tb_lineno)
        for tb in _walk(exc.__traceback__)
        if not _is_engine_file(tb.tb_frame.f_code.co_filename)
    )
    frames = traceback.StackSummary.extract(user)
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames)]
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines)


def thread_stack(ident: int) -> str:
    """Where thread `ident` is now (user frames only), for a timeout's traceback."""
    import sys

    frame = sys._current_frames().get(ident)
    if frame is None:
        return ""
    frames = _user_frames(traceback.extract_stack(frame))
    return "".join(traceback.format_list(frames))


def error_fields(exc: BaseException) -> ErrorFields:
    code = getattr(exc, "code", None)
    etype = code if isinstance(code, str) and code else type(exc).__name__
    return {
        "error_type": etype,
        "error_message": str(exc),
        "traceback": format_user_traceback(exc),
    }


def raise_in_thread(ident: int, exc_type: type[BaseException]) -> None:
    """Ask a worker thread to raise `exc_type` at its next bytecode (abort / timeout)."""
    if sys.gettrace() is not None:
        # Under a tracer (coverage, a debugger) CPython 3.11 makes every traced thread spin
        # at its next function call while an async exception waits for a thread blocked in
        # C (a time.sleep, I/O), and the pending flag cannot be withdrawn: the whole engine
        # froze until the body returned (timeouts reported late, aborts hung). There the
        # body is left to finish on its own; the caller still gets the timeout or abort
        # at once, and what the body returns later is discarded.
        return
    import ctypes  # here: only an abort or a timeout of a sync body needs it

    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(exc_type))


class SyncTimeout(BaseException):
    """Injected into a sync body's thread after its deadline passed; never reaches users."""


# What an abort or a timeout raises in a sync body's thread (see SyncThreads).
LATE_INTERRUPTIONS = (SyncTimeout, ActionAborted)


class SyncThreads:
    """The threads running sync bodies, by attempt key, that an abort or a timeout may
    interrupt (`raise_in_thread`).

    An interruption is raised in a thread only while its body has not left (both under
    one lock). Reading the thread and interrupting it apart let a body return meanwhile:
    the exception then hit whatever that pool thread ran next, another action's body or
    the pool's own bookkeeping, which could lose the thread and every action handed to it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idents: dict[str, int] = {}

    def enter(self, key: str) -> None:
        """The calling thread starts the body of attempt `key`."""
        with self._lock:
            self._idents[key] = threading.get_ident()

    def leave(self, key: str) -> None:
        """The calling thread is done with the body of `key`: no interruption after this.

        One sent just before, as the body ended, may be delivered in this call (on entry,
        too): callers retry it until it returns, dropping that interruption (the body had
        finished; its outcome stands): `while True: try: leave(key); break; except
        LATE: pass`. The loop stands in each caller's own frame, not in a helper: a
        helper's first instruction, before its `try`, could take the interruption.
        """
        with self._lock:
            self._idents.pop(key, None)

    def ident(self, key: str) -> int | None:
        """The thread running the body of `key`, if it still runs."""
        return self._idents.get(key)

    def interrupt(self, key: str, exc_type: type[BaseException]) -> bool:
        """Raise `exc_type` in the body of `key` if it still runs; whether it did."""
        with self._lock:
            ident = self._idents.get(key)
            if ident is None:
                return False
            raise_in_thread(ident, exc_type)
            return True

    def interrupt_all(self, exc_type: type[BaseException]) -> None:
        """Raise `exc_type` in every body still running (an abort)."""
        with self._lock:
            for ident in self._idents.values():
                raise_in_thread(ident, exc_type)


def run_inputs_blob(
    task: TaskTemplate[Any, Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    inputs: dict[str, Any],
) -> bytes:
    try:
        return _serde.dumps((args, kwargs))
    except SerializationError as exc:
        raise _input_error(task, inputs, exc) from exc


def _input_error(
    task: TaskTemplate[Any, Any], inputs: dict[str, Any], exc: Exception
) -> SerializationError:
    """A SerializationError naming the first input that cannot be hashed or stored."""
    for name, value in inputs.items():
        try:
            hash_inputs({name: value})
            _serde.dumps(value)
        except Exception as inner:
            why = (
                "it is nested too deeply (more levels than Python's recursion limit "
                "allows); flatten it"
                if isinstance(inner, RecursionError)
                else str(inner)
            )
            return SerializationError(
                f"input {name!r} of {task.name} ({type(value).__name__}) cannot be stored: {why}"
            )
    return SerializationError(f"inputs of {task.name} cannot be stored: {exc}")


class Deadline(Exception):
    """An action's own timeout expired (as opposed to a TimeoutError the user raised).

    `args[0]`, when given, is where the body was when it was stopped (formatted frames).
    """


class BodyExit(Exception):
    """A task body raised SystemExit or KeyboardInterrupt: fails the action, not the engine.

    Left alone, either would unwind the engine's event loop (asyncio re-raises both out of
    `run_forever`) and leave the driver waiting forever.
    """

    def __init__(self, original: BaseException) -> None:
        super().__init__(original)
        self.original = original


async def with_deadline(coro: Coroutine[Any, Any, Any], timeout: float) -> Any:
    task = asyncio.ensure_future(coro)
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if done:
        return task.result()
    task.cancel()
    with contextlib.suppress(BaseException):
        await task
    raise Deadline


def consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


FROM_CONTEXT: Any = object()


def check_call(
    task: TaskTemplate[Any, Any],
    parent: ActionContext,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    """Refuse a task call where it is made: inside a trace, in an aborted run, or with
    arguments that do not fit the task (its identity is fixed later, when it starts).

    Raises:
        TraceCallError, ActionAborted, TypeError, TypeMismatchError.
    """
    if parent.in_trace:
        raise TraceCallError(
            f"task {task.name} was called inside a @flyte.trace function; traces are "
            "checkpoints inside one task and cannot start tasks"
        )
    if parent.run.aborted.is_set():
        raise ActionAborted(f"run {parent.run.name} was aborted")
    check_args(task, args, kwargs)


class Call:
    """A task call's identity (inputs digest, sequence number, id), fixed when it starts."""

    __slots__ = (
        "group",
        "id",
        "inputs",
        "inputs_hash",
        "inputs_json",
        "parent_id",
        "per_input",
        "seq",
    )

    def __init__(
        self,
        task: TaskTemplate[Any, Any],
        parent: ActionContext | None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        group: Any = FROM_CONTEXT,
        *,
        checked: bool = False,
    ) -> None:
        """`checked`: the arguments were type-checked when the call was made."""
        self.inputs = task.bind(args, kwargs)
        if not checked:
            check_inputs(task, self.inputs)
        try:
            self.inputs_hash, per_input = hash_inputs(self.inputs)
        except Exception as exc:
            raise _input_error(task, self.inputs, exc) from exc
        # A wide fan-out holds a Call per call not yet started: the inputs are kept for the
        # cache key only; otherwise their JSON (what the action row needs) replaces them.
        self.inputs_json: str | None = None
        self.per_input: dict[str, str] | None = per_input
        if not task.cache.enabled:
            self.per_input = None
            if parent is not None:
                self.inputs_json = _serde.encode_json(self.inputs)
                self.inputs = None  # type: ignore[assignment]
        if parent is None:
            self.id, self.seq, self.parent_id, self.group = ROOT_ID, 0, None, None
        else:
            self.seq = parent.next_seq(task.name, self.inputs_hash)
            self.id = action_id(parent.action_id, task.name, self.inputs_hash, self.seq)
            self.parent_id = parent.action_id
            # A call made in a worker process carries the group it was made in.
            self.group = group_var.get() if group is FROM_CONTEXT else group

    @classmethod
    def remote(
        cls,
        task: TaskTemplate[Any, Any],
        parent: ActionContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        seq: int,
        group: str | None,
    ) -> Call:
        """A call a body made in another process, where its sequence number was counted.

        The id is derived here from this process's own inputs hash, so it is the same id
        the call would get in process (the hash is canonical, not process-specific).
        """
        call = cls.__new__(cls)
        call.inputs = task.bind(args, kwargs)
        try:
            call.inputs_hash, call.per_input = hash_inputs(call.inputs)
        except Exception as exc:
            raise _input_error(task, call.inputs, exc) from exc
        call.inputs_json = None
        call.seq = seq
        call.id = action_id(parent.action_id, task.name, call.inputs_hash, seq)
        call.parent_id = parent.action_id
        call.group = group
        return call


class Settled(asyncio.Future, Coroutine):  # type: ignore[type-arg,misc]
    """A task call whose outcome was known when it was made (a cache hit, a recovered
    result): a finished future that also passes for a coroutine.

    `asyncio.gather` and `await` take it as the future it is, without the Task, loop step
    and done callback a coroutine costs them (a third of a cache hit's time);
    `asyncio.create_task` and `asyncio.run` take it as a coroutine whose first step
    returns the outcome. No user code runs in it, so nothing can tell it ran early.
    """

    __slots__ = ()

    @classmethod
    def of(
        cls, loop: asyncio.AbstractEventLoop, value: Any = None, exc: BaseException | None = None
    ) -> Settled:
        settled = cls(loop=loop)
        if exc is None:
            settled.set_result(value)
        else:
            settled.set_exception(exc)
        return settled

    def send(self, value: Any) -> Any:
        raise StopIteration(self.result())

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        raise typ if val is None else val

    def close(self) -> None:
        pass


@types.coroutine
def resume_in(ctx: contextvars.Context, coro: Coroutine[Any, Any, Any], yielded: Any) -> Any:
    """Go on running `coro`, which yielded `yielded` at its first step, in `ctx`: each
    step runs in that context, whatever task awaits this (as `yield from` would)."""
    send, throw = coro.send, coro.throw
    while True:
        try:
            value = yield yielded
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # a cancellation, thrown in by the awaiting task
            try:
                yielded = ctx.run(throw, exc)
            except StopIteration as stop:
                return stop.value
            continue
        try:
            yielded = ctx.run(send, value)
        except StopIteration as stop:
            return stop.value


async def in_action(
    child: ActionContext, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Run an async body as `child`; then wait for the sync children it did not await."""
    token = _current.set(child)
    try:
        value = await func(*args, **kwargs)
    except (SystemExit, KeyboardInterrupt) as exc:
        raise BodyExit(exc) from None
    finally:
        _current.reset(token)
    if child.pending:
        value = await wait_pending(child, value)
    return value


async def wait_pending(child: ActionContext, value: Any) -> Any:
    """Outlive the sync children `child` started and did not await; the body's value."""
    await asyncio.gather(*child.pending, return_exceptions=True)
    if isinstance(value, asyncio.Future) and value in child.pending:
        # An async body returned a sync child's handle without awaiting it.
        value = value.result()
    return value
