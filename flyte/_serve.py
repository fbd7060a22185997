"""`flyte.serve` / `flyte.with_servecontext`: serve an app on this machine (upstream's local mode).

An `@app_env.server` function runs in a daemon thread (an async one on a loop of its own);
a `command` / `args` app runs as a process in its own session. `serve` returns at once with
a `LocalApp` handle: `activate(wait=True)` polls the health-check path until the app
answers, `deactivate(wait=True)` stops it. Apps still running are stopped at exit.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import inspect
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from flyte._aio import aio_method, twin

if TYPE_CHECKING:
    from flyte.app import AppEnvironment

__all__ = ["AppHandle", "LocalApp", "Serve", "serve", "with_servecontext"]

_ACTIVE: set[LocalApp] = set()
_ACTIVE_LOCK = threading.Lock()
_PYTHONS = {"python", "python3", f"python{sys.version_info[0]}.{sys.version_info[1]}"}


def _stop_all() -> None:
    with _ACTIVE_LOCK:
        apps = list(_ACTIVE)
    for app in apps:
        with contextlib.suppress(Exception):
            app.deactivate(wait=True)


atexit.register(_stop_all)


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _bind(fn: Callable[..., Any], values: dict[str, str]) -> dict[str, Any]:
    """The parameters `fn` names (all of them if it takes **kwargs)."""
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(values)
    return {name: values[name] for name in params if name in values}


def _call(fn: Callable[..., Any], values: dict[str, str], loop: asyncio.AbstractEventLoop) -> None:
    result = fn(**_bind(fn, values))
    if inspect.isawaitable(result):
        loop.run_until_complete(result)


class AppHandle(Protocol):
    """What `flyte.serve` returns (upstream's protocol; `LocalApp` here)."""

    @property
    def name(self) -> str: ...

    @property
    def url(self) -> str: ...

    @property
    def endpoint(self) -> str: ...

    def is_active(self) -> bool: ...

    def is_deactivated(self) -> bool: ...


class LocalApp:
    """An app served on this machine (upstream's `_LocalApp`); `url` is its endpoint."""

    def __init__(self, app_env: AppEnvironment, context: Serve) -> None:
        self._app_env = app_env
        self._context = context
        self._port = app_env.get_port().port
        self._process: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._failure: BaseException | None = None  # why the server thread ended
        # Set by `deactivate` before it reads `_loop`; the thread sets `_loop` before it
        # reads this: whichever comes second sees the other, so no stop is missed.
        self._stop = threading.Event()

    @property
    def name(self) -> str:
        return self._app_env.name

    @property
    def endpoint(self) -> str:
        return f"http://localhost:{self._port}"

    @property
    def url(self) -> str:
        return self.endpoint

    def __repr__(self) -> str:
        return f"LocalApp({self.name!r}, {self.endpoint})"

    # -- state ---------------------------------------------------------------------

    def is_active(self) -> bool:
        """Whether the app answers its health-check path (any status below 500)."""
        from urllib.error import HTTPError, URLError
        from urllib.request import urlopen

        url = f"http://127.0.0.1:{self._port}{self._context.health_check_path}"
        try:
            with urlopen(url, timeout=self._context.health_check_timeout) as resp:
                return int(resp.status) < 500
        except HTTPError as exc:
            return exc.code < 500
        except (URLError, OSError):
            return False

    def is_deactivated(self) -> bool:
        return not self._running()

    def _running(self) -> bool:
        if self._thread is not None and self._thread.is_alive():
            return True
        return self._process is not None and self._process.poll() is None

    # -- start and stop ------------------------------------------------------------

    def _start(self) -> None:
        from flyte.app._parameter import local_value, publish

        env = self._app_env
        overrides = self._context.parameter_values.get(env.name, {})
        values: dict[str, str] = {}
        for parameter in env.parameters:
            value = local_value(parameter, overrides.get(parameter.name))
            if value is not None:
                values[parameter.name] = value
        extra = {**(env.env_vars or {}), **self._context.env_vars, "_RUN_MODE": "local"}
        for parameter in env.parameters:
            if parameter.env_var and parameter.name in values:
                extra[parameter.env_var] = values[parameter.name]
        if self._context.raw_data_path:
            extra["_FLYTE_APP_RAW_DATA_PATH"] = self._context.raw_data_path
        # In-process servers read these from os.environ, as upstream's local mode sets them.
        os.environ.update(extra)
        publish(values)
        with _ACTIVE_LOCK:
            _ACTIVE.add(self)
        if env._server is not None:
            self._start_thread(values)
            return
        command = env.process_command()
        if not command:
            from flyte.errors import InvalidOptionError

            raise InvalidOptionError(
                f"app {env.name!r} has no @app_env.server function, command or args; "
                "give it one to serve it"
            )
        if command[0] in _PYTHONS:
            command[0] = sys.executable  # the interpreter serving it, as `python` means here
        elif shutil.which(command[0]) is None:
            from flyte.errors import InvalidOptionError

            raise InvalidOptionError(
                f"app {env.name!r}: its command {command[0]!r} is not installed on this "
                "machine; install it to serve the app here"
            )
        self._process = subprocess.Popen(command, env=dict(os.environ), start_new_session=True)

    def _start_thread(self, values: dict[str, str]) -> None:
        env = self._app_env
        server = env._server
        assert server is not None

        stop = self._stop = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                if stop.is_set():
                    return
                if env._on_startup is not None:
                    _call(env._on_startup, values, loop)
                if stop.is_set():  # deactivated while it started up
                    return
                _call(server, values, loop)
                if env._on_shutdown is not None:
                    _call(env._on_shutdown, values, loop)
            except Exception as exc:
                if "Event loop stopped before Future completed" not in str(exc):  # deactivate
                    self._failure = exc
                    print(f"flyte: app {env.name} failed: {_one_line(exc)}", file=sys.__stderr__)
            finally:
                self._loop = None
                with contextlib.suppress(Exception):
                    for task in asyncio.all_tasks(loop):
                        task.cancel()
                    loop.close()

        self._thread = threading.Thread(target=run, daemon=True, name=f"flyte-app-{env.name}")
        self._thread.start()

    @aio_method
    def activate(self, wait: bool = False) -> LocalApp:
        """Start the app if it is not running; with `wait`, until it answers.

        Raises:
            TimeoutError: it did not answer within the serve context's activate_timeout.
        """
        if self.is_active():
            return self
        if not self._running():
            self._start()
        if wait:
            deadline = time.monotonic() + self._context.activate_timeout
            while time.monotonic() < deadline:
                if self.is_active():
                    return self
                if not self._running():
                    why = f": {_one_line(self._failure)}" if self._failure is not None else ""
                    raise RuntimeError(f"app {self.name!r} stopped before it answered{why}")
                time.sleep(self._context.health_check_interval)
            raise TimeoutError(
                f"App '{self.name}' failed to become active within "
                f"{self._context.activate_timeout:g} seconds"
            )
        return self

    @aio_method
    def deactivate(self, wait: bool = False) -> LocalApp:
        """Stop the app (its process group, or its server thread's loop)."""
        process = self._process
        if process is not None and process.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(process.pid, signal.SIGTERM)
            if wait:
                try:
                    process.wait(timeout=self._context.deactivate_timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(OSError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=self._context.deactivate_timeout)
        self._stop.set()
        loop = self._loop
        if loop is not None and not loop.is_closed():
            # Also when it is not running yet (a sync on_startup): the stop then waits in
            # its queue, and the server's run ends at once ("stopped before completed").
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(loop.stop)
        if wait and self._thread is not None:
            self._thread.join(timeout=self._context.deactivate_timeout)
        with _ACTIVE_LOCK:
            _ACTIVE.discard(self)
        return self

    @contextlib.asynccontextmanager
    async def ephemeral_ctx(self) -> AsyncIterator[None]:
        """Active inside the block, deactivated after it."""
        try:
            await self.activate.aio(wait=True)
            yield
        finally:
            await self.deactivate.aio(wait=True)

    @contextlib.contextmanager
    def ephemeral_ctx_sync(self) -> Iterator[None]:
        """Active inside the block, deactivated after it."""
        try:
            self.activate(wait=True)
            yield
        finally:
            self.deactivate(wait=True)


class Serve:
    """How apps are served (`flyte.with_servecontext(...)`); `.serve(app_env)` serves one."""

    def __init__(
        self,
        mode: str | None = None,
        *,
        env_vars: dict[str, str] | None = None,
        parameter_values: dict[str, dict[str, Any]] | None = None,
        deactivate_timeout: float | None = None,
        activate_timeout: float | None = None,
        health_check_timeout: float | None = None,
        health_check_interval: float | None = None,
        health_check_path: str | None = None,
        raw_data_path: str | None = None,
        **cluster_only: Any,
    ) -> None:
        from flyte.errors import InvalidOptionError

        if mode not in (None, "local", "remote"):
            raise InvalidOptionError(f"mode must be 'local' or 'remote', got {mode!r}")
        self.mode = mode or "local"
        self.env_vars = dict(env_vars or {})
        self.parameter_values = dict(parameter_values or {})
        self.deactivate_timeout = 6.0 if deactivate_timeout is None else deactivate_timeout
        self.activate_timeout = 60.0 if activate_timeout is None else activate_timeout
        self.health_check_timeout = 2.0 if health_check_timeout is None else health_check_timeout
        self.health_check_interval = 1.0 if health_check_interval is None else health_check_interval
        self.health_check_path = "/health" if health_check_path is None else health_check_path
        self.raw_data_path = raw_data_path or ""
        # version, copy_style, dry_run, project, domain, cluster_pool, log_level, ...
        self.cluster_only = cluster_only

    def _serve(self, app_env: AppEnvironment) -> LocalApp:
        from flyte._cluster import note
        from flyte.app import AppEnvironment
        from flyte.errors import InvalidOptionError

        if not isinstance(app_env, AppEnvironment):
            raise InvalidOptionError(
                f"flyte.serve needs a flyte.app.AppEnvironment, got {type(app_env).__name__}; "
                "run tasks with flyte.run"
            )
        if self.mode == "remote":
            note(
                "serve mode 'remote'",
                "with no Flyte server configured, the app is served on this machine",
            )
        app = LocalApp(app_env, self)
        app._start()
        return app

    @aio_method
    def serve(self, app_env: AppEnvironment) -> LocalApp:
        """Serve `app_env` on this machine; returns at once (see `LocalApp.activate`)."""
        return self._serve(app_env)


def with_servecontext(mode: str | None = None, **options: Any) -> Serve:
    """A serve context: `flyte.with_servecontext(mode="local", env_vars={...}).serve(app_env)`.

    Args:
        mode: "local" (the default); "remote" serves locally too when no server is set up.
        **options: env_vars, parameter_values, activate_timeout, deactivate_timeout,
            health_check_path/timeout/interval, raw_data_path; upstream's deployment
            options (version, project, cluster_pool, ...) are accepted and have no local effect.
    """
    return Serve(mode, **options)


def _serve(app_env: AppEnvironment) -> LocalApp:
    """Serve an app on this machine with the default serve context; returns at once."""
    return Serve()._serve(app_env)


serve = twin(_serve, blocking=True)
