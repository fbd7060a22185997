"""`flyte.remote.Run`: recorded runs by name; `RemoteRun`: one driven by a flyte server.

`Run.get(name)` / `Run.listall(...)` read the current store; with an endpoint configured
that is the server's, and the handles are `RemoteRun`s, which wait, fetch outputs, follow
logs and abort through the server's API.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from flyte._aio import aio_method
from flyte._models import Phase
from flyte._run import Run as _Run
from flyte._run import current_store
from flyte.errors import RunNotFoundError

if TYPE_CHECKING:
    from flyte._models import RunRecord
    from flyte._store.http import HttpRunStore

__all__ = ["RemoteRun", "Run", "remote_exception"]


def _handle(cls: type[Run], name: str, store: Any) -> Run:
    """A handle of `cls`, or a `RemoteRun` for a run on a server."""
    if getattr(store, "remote", False) and not issubclass(cls, RemoteRun):
        return RemoteRun(name, store)
    return cls(name, store)


class Run(_Run):
    """A recorded run, looked up by name: the handle `flyte.run` returns, plus look-ups.

    A subclass rather than methods patched onto `flyte.Run` at import: importing
    `flyte.remote` changes nothing elsewhere.

    Example:
        run = flyte.remote.Run.get("swift-otter-4f2a9c")
        print(run.phase, run.outputs())
    """

    @classmethod
    def get(cls, name: str) -> Run:
        """The run called `name`.

        Raises:
            RunNotFoundError: there is no such run.
        """
        store = current_store()
        if store.get_run(name) is None:
            raise RunNotFoundError(f"run {name!r} not found; `flyte get runs` lists runs")
        return _handle(cls, name, store)

    @classmethod
    def listall(
        cls, limit: int | None = 100, phase: str | None = None, task: str | None = None
    ) -> list[Run]:
        """Recorded runs, newest first (filtered by phase and task)."""
        store = current_store()
        found = store.list_runs(limit=limit, phase=phase, task=task)
        return [_handle(cls, r.name, store) for r in found]


def remote_exception(record: RunRecord) -> BaseException:
    """The exception a failed remote run raised, rebuilt from its record.

    The server keeps the error's type, message and traceback; a builtin or flyte error
    type comes back as itself (also a `RuntimeUserError`, as locally), anything else as
    `RuntimeUserError` with `.code` naming the original class.
    """
    import builtins

    import flyte.errors

    if record.phase is Phase.ABORTED:
        why = record.error_message or "the run was aborted"
        return flyte.errors.RunAbortedError(f"run {record.name} was aborted: {why}")
    kind = record.error_type or "RuntimeUserError"
    message = record.error_message or ""
    exc: BaseException
    cls = getattr(flyte.errors, kind, None)
    if not (isinstance(cls, type) and issubclass(cls, flyte.errors.FlyteError)):
        cls = getattr(builtins, kind, None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            exc = flyte.errors.as_user_error(cls(message))
        except Exception:  # a constructor that needs other arguments
            exc = flyte.errors.RuntimeUserError(f"{kind}: {message}")
    else:
        exc = flyte.errors.RuntimeUserError(f"{kind}: {message}")
    if not hasattr(exc, "code"):
        exc.code = kind  # type: ignore[attr-defined]
    if record.traceback and hasattr(exc, "add_note"):
        exc.add_note(f"Traceback on the server (run {record.name}):\n{record.traceback.rstrip()}")
    return exc


class RemoteRun(Run):
    """A run driven by a flyte server: the same handle as a local run, read over HTTP.

    Example:
        flyte.init(endpoint="http://127.0.0.1:8090", api_key=token)
        run = flyte.with_runcontext(wait=False).run(main, name="World")
        print(run.url, run.phase)
        print(run.wait().outputs()[0])
    """

    store: HttpRunStore

    def __init__(self, name: str, store: HttpRunStore) -> None:
        super().__init__(name, store)

    @property
    def url(self) -> str:
        from flyte.remote._wire import API

        return f"{self.store.path}{API}/runs/{self.name}"

    def done(self) -> bool:
        return self.phase.is_terminal

    @aio_method
    def wait(self, timeout: float | None = None, *, quiet: bool = True) -> Run:
        """Block until the run ends on the server (or `timeout` seconds pass)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = 20.0 if deadline is None else max(0.0, deadline - time.monotonic())
            record = self.store.wait_run(self.name, min(left, 20.0))
            if record is None:
                raise RunNotFoundError(f"run {self.name!r} not found on {self.store.path}")
            if record.phase.is_terminal:
                return self
            if deadline is not None and time.monotonic() >= deadline:
                return self

    def exception(self) -> BaseException | None:
        """The exception the run ended with, rebuilt from the server's record."""
        record = self.record
        if not record.phase.is_terminal or record.phase is Phase.SUCCEEDED:
            return None
        return remote_exception(record)

    @aio_method
    def outputs(self) -> Any:
        """The root task's outputs, once the run has ended.

        Raises:
            Exception: the run's own error, when it did not succeed.
        """
        from flyte._run import _as_outputs
        from flyte._serde import loads

        self.wait()
        record = self.record
        if record.phase is not Phase.SUCCEEDED:
            raise remote_exception(record)
        blob = self.store.get_blob(self.name, None, "outputs")
        value = loads(blob) if blob is not None else None
        return _as_outputs(int(record.settings.get("output_arity", 1)), value)

    def abort(self) -> bool:
        """Ask the server to abort the run; its driver stops it within about a second."""
        return self.store.request_abort(self.name)

    def show_logs(self, action: str | None = None, *, follow: bool = False) -> None:
        """Print the run's log lines (with `follow=True`, until the run ends)."""
        if not follow:
            for line in self.store.logs(self.name, action_id=action):
                print(line.line)
            return
        for batch in self.store.follow_logs(self.name, action_id=action):
            for line in batch:
                print(line.line, flush=True)

    def __repr__(self) -> str:
        return f"RemoteRun(name={self.name!r}, endpoint={self.store.path!r})"
