"""`@flyte.trace`: checkpoints inside a task that replay instead of running again.

A trace call inside a task is recorded as a child action (kind "trace") with a
deterministic id. Before running, the trace looks itself up: a value recorded by an
earlier attempt of the same action, or by the run being recovered, is returned without
running the body. Outside a task a traced function is an ordinary call.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

from flyte import _serde
from flyte._context import ActionContext, _current, current_action, group_var
from flyte._controller.recorder import ErrorFields, TraceRecord
from flyte._controller.sequencer import action_id
from flyte._hashing import hash_inputs
from flyte._models import Phase
from flyte.errors import TraceCallError

__all__ = ["trace"]

F = TypeVar("F", bound=Callable[..., Any])


class _Checkpoint:
    """Bookkeeping for one trace call: id, lookup, recording."""

    def __init__(
        self, func: Callable[..., Any], name: str, parent: ActionContext, args: Any, kwargs: Any
    ):
        self.parent = parent
        self.run = parent.run
        self.name = name
        try:
            bound = inspect.signature(func).bind(*args, **kwargs)
            bound.apply_defaults()
            self.inputs = dict(bound.arguments)
        except TypeError:
            self.inputs = {"args": list(args), **kwargs}
        self.ihash = hash_inputs(self.inputs)[0]
        seq = parent.next_seq(name, self.ihash)
        self.id = action_id(parent.action_id, name, self.ihash, seq)
        self.seq = seq
        self.started = time.time()

    def replayed(self) -> tuple[bool, Any]:
        """(True, value) when this trace already succeeded in this run or the recovered one."""
        found = self.run.trace_lookup(self.id)
        if found is None or found[0] != self.ihash:
            return False, None
        trusted, value = _serde.trusted_loads(found[1], what=f"trace {self.name}")
        if not trusted:
            return False, None
        self._record(
            Phase.SUCCEEDED, outputs_json=_serde.encode_json(value), blob=found[1], recovered=True
        )
        return True, value

    def context(self) -> ActionContext:
        return ActionContext(
            run=self.run,
            action_id=self.id,
            task_name=self.name,
            attempt=self.parent.attempt,
            in_trace=True,
        )

    def succeeded(self, value: Any) -> None:
        blob = _serde.dumps(value, what=f"the output of trace {self.name}")
        self._record(Phase.SUCCEEDED, outputs_json=_serde.encode_json(value), blob=blob)

    def failed(self, exc: BaseException) -> None:
        from flyte._controller.calls import format_user_traceback

        self._record(
            Phase.FAILED,
            error={
                "error_type": type(exc).__name__,
                "error_message": str(exc),
                "traceback": format_user_traceback(exc),
            },
        )

    def _record(
        self,
        phase: Phase,
        *,
        outputs_json: str | None = None,
        blob: bytes | None = None,
        recovered: bool = False,
        error: ErrorFields | None = None,
    ) -> None:
        # Through the run: in a worker process this crosses the channel to the controller.
        self.run.record_trace(
            TraceRecord(
                id=self.id,
                parent=self.parent.action_id,
                name=self.name,
                phase=phase.value,
                attempt=self.parent.attempt,
                seq=self.seq,
                group=group_var.get(),
                inputs_hash=self.ihash,
                inputs_json=_serde.encode_json(self.inputs),
                started_at=self.started,
                ended_at=time.time(),
                outputs_json=outputs_json,
                blob=blob,
                recovered=recovered,
                error=error,
            )
        )


def trace(func: F) -> F:
    """Make a function a checkpoint: recorded inside tasks, replayed on retry and recover.

    Works on sync and async functions and generators.

    Example:
        @flyte.trace
        async def call_llm(prompt: str) -> str: ...
    """
    name = getattr(func, "__qualname__", getattr(func, "__name__", "trace"))

    def start(args: Any, kwargs: Any) -> _Checkpoint | None:
        parent = current_action()
        if parent is None:
            return None
        return _Checkpoint(func, name, parent, args, kwargs)

    wrapper: Any
    if inspect.isasyncgenfunction(func):

        async def agen_wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            cp = start(args, kwargs)
            if cp is None:
                async for item in func(*args, **kwargs):
                    yield item
                return
            hit, value = cp.replayed()
            if hit:
                for item in value:
                    yield item
                return
            items: list[Any] = []
            agen = func(*args, **kwargs)
            try:
                while True:
                    token = _enter(cp)
                    try:
                        item = await agen.__anext__()
                    except StopAsyncIteration:
                        break
                    finally:
                        _leave(token)
                    items.append(item)
                    yield item
            except GeneratorExit:
                raise
            except BaseException as exc:
                cp.failed(exc)
                raise
            cp.succeeded(items)

        wrapper = agen_wrapper
    elif inspect.isgeneratorfunction(func):

        def gen_wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
            cp = start(args, kwargs)
            if cp is None:
                yield from func(*args, **kwargs)
                return
            hit, value = cp.replayed()
            if hit:
                yield from value
                return
            items: list[Any] = []
            try:
                for item in _iter_in(cp.context(), func(*args, **kwargs)):
                    items.append(item)
                    yield item
            except GeneratorExit:
                raise
            except BaseException as exc:
                cp.failed(exc)
                raise
            cp.succeeded(items)

        wrapper = gen_wrapper
    elif inspect.iscoroutinefunction(func):

        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            cp = start(args, kwargs)
            if cp is None:
                return await func(*args, **kwargs)
            hit, value = cp.replayed()
            if hit:
                return value
            token = _enter(cp)
            try:
                value = await func(*args, **kwargs)
            except BaseException as exc:
                cp.failed(exc)
                raise
            finally:
                _leave(token)
            cp.succeeded(value)
            return value

        wrapper = async_wrapper
    else:

        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            cp = start(args, kwargs)
            if cp is None:
                return func(*args, **kwargs)
            hit, value = cp.replayed()
            if hit:
                return value
            token = _enter(cp)
            try:
                value = func(*args, **kwargs)
            except BaseException as exc:
                cp.failed(exc)
                raise
            finally:
                _leave(token)
            cp.succeeded(value)
            return value

        wrapper = sync_wrapper
    functools.update_wrapper(wrapper, func)
    wrapper.__flyte_trace__ = True
    return wrapper  # type: ignore[no-any-return]


# The wrappers below call these instead of touching the ContextVar directly: cloudpickle
# pickles a wrapper of a __main__/notebook function by value, and a ContextVar global
# cannot be pickled, while module-level functions of flyte._trace pickle by reference.
def _enter(cp: _Checkpoint) -> Any:
    return _current.set(cp.context())


def _leave(token: Any) -> None:
    _current.reset(token)


def _iter_in(action: ActionContext, gen: Iterator[Any]) -> Iterator[Any]:
    """Advance `gen` with `action` current, but yield with the caller's context."""
    while True:
        token = _current.set(action)
        try:
            item = next(gen)
        except StopIteration:
            return
        finally:
            _leave(token)
        yield item


def ensure_not_in_trace(task_name: str) -> None:
    action = current_action()
    if action is not None and action.in_trace:
        raise TraceCallError(f"task {task_name} cannot be called inside a @flyte.trace function")
