"""The remote side of `flyte.run` / `flyte.rerun`: runs driven by a flyte server.

`RemoteController` is the switch point between local and remote: `flyte._run` asks
`remote_controller()` once per call, and with an endpoint configured it ships the run to
the server instead of starting it on the local engine. It mirrors the local
controller's `start_run` so it can sit behind the engine's Controller protocol.
`RemoteRun` is the handle: it follows the run through the server's store API.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from flyte._models import Phase
from flyte._run import Run
from flyte.errors import RunNotFoundError

if TYPE_CHECKING:
    from flyte._controller.state import RunOptions
    from flyte._models import RunRecord
    from flyte._store import RunStore
    from flyte._store.http import HttpRunStore
    from flyte.remote._client import RemoteClient, RemoteSettings

__all__ = [
    "RemoteController",
    "RemoteRun",
    "client_label",
    "remote_controller",
    "remote_exception",
]

_OPTION_KEYS = ("disable_run_cache", "overwrite_cache", "env_vars", "labels")


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


class RemoteController:
    """Starts runs on a flyte server and hands back `RemoteRun` handles.

    Example:
        controller = RemoteController(RemoteClient("http://127.0.0.1:8090", api_key=t))
        run = controller.start_run(task=main, args=(), kwargs={"name": "x"}, options=opts)
    """

    def __init__(self, client: RemoteClient) -> None:
        from flyte._store.http import HttpRunStore

        self.client = client
        self.store = HttpRunStore(client)

    def start_run(
        self,
        *,
        task: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        options: RunOptions,
    ) -> RemoteRun:
        """Ship `task` (its code, or a deployed task's name) and its inputs; start the run.

        Raises:
            flyte.errors.UserError: the server refused it (name taken, code that does not
                import there, ...), or `task` is not a task.
            flyte.errors.RemoteError: the server is unreachable or refused the key.
        """
        from flyte._task import TaskTemplate
        from flyte.errors import UserError
        from flyte.remote import Task as TaskRef
        from flyte.remote._bundle import bundle_task
        from flyte.remote._wire import b64encode

        body: dict[str, Any] = {
            "name": options.name,
            "options": {k: getattr(options, k) for k in _OPTION_KEYS},
            "recover_from": options.recover_from,
        }
        # Who submitted it, shown with the run (and how `run --watch` finds its runs).
        body["options"]["labels"] = {**(options.labels or {}), "client": client_label()}
        if isinstance(task, TaskRef):
            body["deployed"] = {"task": task.name, "version": task.version}
        elif isinstance(task, TaskTemplate):
            task.bind(args, kwargs)  # a wrong call fails here, before anything is shipped
            body["bundle"] = bundle_task(task)
        else:
            raise UserError(f"flyte.run needs a task made with @env.task, got {task!r}")
        body["inputs"] = b64encode(_pickle((tuple(args), dict(kwargs))))
        data = self.client.json("POST", "/runs", json=body, timeout=300)
        return RemoteRun(data["run"]["name"], self.store)

    def rerun(
        self, run_name: str, *, recover: bool = False, new_inputs: dict[str, Any] | None = None
    ) -> RemoteRun:
        """A new run of `run_name`'s task on the server (recovering its results if asked)."""
        from urllib.parse import quote

        from flyte.remote._wire import b64encode

        body: dict[str, Any] = {
            "recover": recover,
            "options": {"labels": {"client": client_label()}},
        }
        if new_inputs:
            body["inputs"] = b64encode(_pickle(((), dict(new_inputs))))
        data = self.client.json(
            "POST", f"/runs/{quote(run_name, safe='')}/rerun", json=body, timeout=300
        )
        return RemoteRun(data["run"]["name"], self.store)


def client_label(pid: int | None = None) -> str:
    """`user@host:pid` of the process submitting a run to a server."""
    import getpass
    import os
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (containers)
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}:{os.getpid() if pid is None else pid}"


def _pickle(value: Any) -> bytes:
    # cloudpickle: inputs may be instances of classes defined in __main__ / a notebook.
    import cloudpickle

    from flyte.errors import SerializationError

    try:
        return bytes(cloudpickle.dumps(value))
    except Exception as exc:
        raise SerializationError(
            f"the run's inputs cannot be shipped to the server: {exc}"
        ) from exc


_controllers: dict[tuple[str | None, ...], RemoteController] = {}
_lock = threading.Lock()


def _for_settings(settings: RemoteSettings) -> RemoteController:
    from flyte.remote._client import client_for, settings_key

    key = settings_key(settings)
    with _lock:
        found = _controllers.get(key)
        if found is None:
            found = _controllers[key] = RemoteController(client_for(settings))
    return found


def remote_controller(store: RunStore | None = None) -> RemoteController | None:
    """The server's controller when runs go to a server, else None (run locally).

    With `store` given (the CLI passes the store it reads), an HTTP store means its
    server and any other store means local; without it, the configured endpoint decides
    (`flyte.init(endpoint=...)` or `$FLYTE_ENDPOINT`, see `remote_settings`).
    """
    if store is not None:
        client = getattr(store, "client", None)
        if not getattr(store, "remote", False) or client is None:
            return None
        with _lock:
            for controller in _controllers.values():
                if controller.client is client:
                    return controller
            found = RemoteController(client)
            found.store = store  # type: ignore[assignment]
            return found
    from flyte.remote._client import remote_settings

    settings = remote_settings()
    return None if settings is None else _for_settings(settings)
