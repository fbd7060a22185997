"""The remote side of `flyte.run` / `flyte.rerun`: runs driven by a flyte server.

`RemoteController` is the switch point between local and remote: `flyte._run` asks
`remote_controller()` once per call, and with an endpoint configured it ships the run to
the server instead of starting it on the local engine. It mirrors the local
controller's `start_run` so it can sit behind the engine's Controller protocol.
`RemoteRun` (in `_run.py`) is the handle: it follows the run through the server's API.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from flyte.remote._run import RemoteRun

if TYPE_CHECKING:
    from flyte._controller.state import RunOptions
    from flyte._store import RunStore
    from flyte.remote._client import RemoteClient, RemoteSettings

__all__ = ["RemoteController", "client_label", "remote_controller"]

_OPTION_KEYS = ("disable_run_cache", "overwrite_cache", "env_vars", "labels")


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
