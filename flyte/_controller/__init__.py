"""The seam between the authoring API and whatever drives runs and runs task bodies.

- `Controller`: start a run, call a task, map, abort, wait. The facade (`flyte.run`,
  `Run`), `TaskTemplate.__call__` / `.aio` and `flyte.map` only talk to this protocol.
  `LocalController` (`local.py`) drives runs in this process; inside a worker process
  `WorkerController` (`worker.py`) forwards calls over the worker channel; a remote client
  (`flyte serve`) is another implementation.
- `Executor` (`executor.py`): runs one attempt of one action somewhere and reports back.
  `create_executor(spec)` builds the non-inline ones lazily.

Nothing heavy is imported here: `import flyte` stays cheap.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import asyncio
    import concurrent.futures

    from flyte._context import ActionContext
    from flyte._controller.executor import Executor
    from flyte._controller.local import LocalController
    from flyte._controller.state import RunOptions, RunState
    from flyte._store import RunStore
    from flyte._task import TaskTemplate

__all__ = ["Controller", "MapsByCalls", "create_executor", "get_controller"]


class Controller(Protocol):
    """Drives runs and routes task calls made inside them (DESIGN.md section 9)."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop async task bodies and child actions run on."""

    def on_loop(self) -> bool:
        """Whether the caller runs on `loop` (async body) rather than a sync-body thread."""

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
        """Record a new run, start its root action; return its state and a future of its value."""

    def call(
        self,
        task: TaskTemplate[Any, Any],
        parent: ActionContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """A task call inside a run: a value (sync caller), an awaitable or a handle (async)."""

    def call_aio(
        self,
        task: TaskTemplate[Any, Any],
        parent: ActionContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Coroutine[Any, Any, Any]:
        """`task.aio(...)`: a coroutine of the child action's value."""

    def prepare(
        self,
        task: TaskTemplate[Any, Any],
        parent: ActionContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Callable[[], Coroutine[Any, Any, Any]]:
        """Check a call now; the factory makes the coroutine when it may start, and the
        call's identity (digest, sequence number, id) is fixed then."""

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
        """`flyte.map` called from a sync body."""

    def map_aio(
        self,
        parent: ActionContext,
        func: Any,
        iterables: tuple[Iterable[Any], ...],
        *,
        group_name: str | None,
        concurrency: int,
        return_exceptions: bool,
    ) -> AsyncIterator[Any]:
        """`flyte.map.aio` called from an async body."""

    def blocking(self) -> contextlib.AbstractContextManager[None]:
        """Wrap a sync body's wait for a child, so the wait frees its thread's slot."""

    def abort(self, run_name: str) -> bool:
        """Abort a run this controller drives; False when it drives no such run."""

    def wait(self, future: concurrent.futures.Future[Any], timeout: float | None = None) -> bool:
        """Block until a run started by this controller ends; True when it did."""


class MapsByCalls:
    """`map` / `map_aio` for a controller whose `call`/`call_aio` route each item.

    `flyte.map` needs nothing else from a controller, so the local engine and a worker's
    controller share this one implementation (`flyte._map` does the work).
    """

    def map(
        self: Controller,
        parent: ActionContext,
        func: Any,
        iterables: tuple[Iterable[Any], ...],
        *,
        group_name: str | None,
        concurrency: int,
        return_exceptions: bool,
    ) -> Iterator[Any]:
        """`flyte.map` from a sync body: results in input order, `concurrency` at once."""
        from flyte._map import drain_map

        return drain_map(self, parent, func, iterables, group_name, concurrency, return_exceptions)

    def map_aio(
        self: Controller,
        parent: ActionContext,
        func: Any,
        iterables: tuple[Iterable[Any], ...],
        *,
        group_name: str | None,
        concurrency: int,
        return_exceptions: bool,
    ) -> AsyncIterator[Any]:
        """`flyte.map.aio` from an async body."""
        from flyte._map import aio_map

        return aio_map(self, parent, func, iterables, group_name, concurrency, return_exceptions)


def get_controller() -> LocalController:
    """The process-wide local controller (imported lazily: `import flyte` stays cheap)."""
    from flyte._controller.local import get_controller as _get

    return _get()


def create_executor(spec: Any, controller: LocalController) -> Executor:
    """Build the executor named by `spec` for `controller`.

    Args:
        spec: "process"; "dask", "dask://HOST:PORT" or a `distributed.Client`.
        controller: the controller whose attempts the executor runs.

    Raises:
        InvalidOptionError: `spec` names no executor; the message lists the valid ones.
    """
    if spec == "process":
        from flyte._controller.process import ProcessExecutor

        return ProcessExecutor(controller)
    if (isinstance(spec, str) and (spec == "dask" or spec.startswith("dask://"))) or (
        type(spec).__module__.startswith("distributed")
    ):
        from flyte._controller.dask import DaskExecutor  # type: ignore[import-not-found]

        return DaskExecutor(spec, controller)  # type: ignore[no-any-return]
    from flyte.errors import InvalidOptionError

    raise InvalidOptionError(
        f"executor {spec!r} is not known; use 'inline', 'process', 'dask' or 'dask://HOST:PORT'"
    )
