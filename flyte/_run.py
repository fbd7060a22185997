"""flyte.run / flyte.with_runcontext / flyte.rerun and the Run handle they return."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from flyte._aio import aio_method
from flyte._models import Phase
from flyte.errors import RunNotFoundError, UserError

if TYPE_CHECKING:
    import concurrent.futures

    from flyte._config import Config
    from flyte._controller import Controller
    from flyte._controller.state import RunState
    from flyte._models import ActionRecord, RunRecord
    from flyte._store import RunStore
    from flyte._task import TaskTemplate
    from flyte.remote._controller import RemoteController

__all__ = [
    "Outputs",
    "Run",
    "RunContext",
    "init",
    "init_from_config",
    "rerun",
    "run",
    "with_runcontext",
]

_ADJECTIVES = [
    "amber",
    "brave",
    "calm",
    "clever",
    "cosmic",
    "crisp",
    "daring",
    "eager",
    "fancy",
    "gentle",
    "golden",
    "happy",
    "jolly",
    "keen",
    "lively",
    "lucky",
    "mellow",
    "merry",
    "nimble",
    "noble",
    "plucky",
    "proud",
    "quick",
    "quiet",
    "rapid",
    "shiny",
    "silent",
    "snowy",
    "sunny",
    "swift",
    "tidy",
    "vivid",
    "witty",
    "zesty",
]
_NOUNS = [
    "badger",
    "beacon",
    "comet",
    "crane",
    "falcon",
    "fern",
    "finch",
    "fox",
    "gecko",
    "heron",
    "ibis",
    "koala",
    "lark",
    "lynx",
    "maple",
    "meadow",
    "otter",
    "owl",
    "panda",
    "pebble",
    "puffin",
    "raven",
    "river",
    "robin",
    "salmon",
    "sparrow",
    "tiger",
    "tulip",
    "walrus",
    "willow",
    "wren",
    "yak",
]


def new_run_name() -> str:
    """A readable, unique run name like `swift-otter-4f2a9c`."""
    # os.urandom, not `secrets`: that module (and `random`, `base64`, `hmac` with it) cost
    # every `python script.py` a few milliseconds at start.
    picks = os.urandom(7)
    adjective = _ADJECTIVES[int.from_bytes(picks[:2], "big") % len(_ADJECTIVES)]
    noun = _NOUNS[int.from_bytes(picks[2:4], "big") % len(_NOUNS)]
    return f"{adjective}-{noun}-{picks[4:].hex()}"


def init(
    *,
    store: RunStore | str | os.PathLike[str] | None = None,
    root_dir: str | os.PathLike[str] | None = None,
    endpoint: str | None = None,
    api_key: str | None = None,
    project: str | None = None,
    domain: str | None = None,
    org: str | None = None,
    log_level: int | None = None,
    executor: Any = None,
    **kwargs: Any,
) -> None:
    """Configure flyte for this process; optional, everything is local by default.

    Args:
        store: a RunStore, "memory", or the path of a runs.db (default `$FLYTE_HOME/runs.db`).
        root_dir: the project root, for locating code.
        endpoint: a flyte-local server (`flyte serve`, like "http://127.0.0.1:8090"):
            runs, deployments and reads then go to it; nothing is written locally.
        api_key: the server's token (default `$FLYTE_API_KEY`).
        project: recorded as a label for upstream compatibility.
        domain: recorded as a label for upstream compatibility.
        org: recorded as a label for upstream compatibility.
        log_level: accepted for upstream compatibility.
        executor: where task bodies run: "inline" (this process), "process" (worker
            processes), "dask" (a LocalCluster), "dask://HOST:PORT" or a
            `distributed.Client` (Dask workers); default: in process, except tasks
            with `resources=` or `reusable=` (also `$FLYTE_EXECUTOR`).
        **kwargs: upstream's other options (auth, images, storage, ...), accepted and
            without effect locally; a name upstream does not know is a TypeError.
    """
    from flyte import _config

    _check_init_options(kwargs, "flyte.init")
    if log_level is not None:
        logging.getLogger("flyte").setLevel(log_level)
    if executor is not None:
        _check_executor(executor)
    opened: Any = None
    url: str | None = None
    if store is not None and not isinstance(store, str | os.PathLike):
        opened = store
    elif store is not None:
        from flyte._store import open_store

        url = os.fspath(store)
        opened = open_store(store)
    _config.reset()
    _config.replace_config(
        store=opened,
        store_url=url,
        endpoint=endpoint,
        api_key=api_key,
        executor=executor,
        project=project,
        domain=domain,
        org=org,
    )


# Upstream's flyte.init options that flyte.init here takes as **kwargs (cluster, auth and
# image settings): accepted so that upstream programs run unchanged, with no local effect.
_UPSTREAM_INIT_OPTIONS = frozenset(
    {
        "auth_client_config",
        "auth_type",
        "batch_size",
        "ca_cert_file_path",
        "client_credentials_secret",
        "client_id",
        "command",
        "disable_keyring",
        "headless",
        "http_proxy_url",
        "image_builder",
        "image_registry",
        "images",
        "insecure",
        "insecure_skip_verify",
        "load_plugin_type_transformers",
        "local_persistence",
        "local_tracked",
        "local_tracked_strict",
        "log_format",
        "proxy_command",
        "reset_root_logger",
        "rpc_retries",
        "source_config_path",
        "storage",
        "sync_local_sys_paths",
        "user_log_level",
    }
)
_INIT_OPTIONS = _UPSTREAM_INIT_OPTIONS | {
    "api_key",
    "domain",
    "endpoint",
    "executor",
    "log_level",
    "org",
    "project",
    "root_dir",
    "store",
}


def _check_init_options(kwargs: Mapping[str, Any], where: str) -> None:
    """A misspelt option is an error, not a setting silently dropped."""
    unknown = sorted(set(kwargs) - _INIT_OPTIONS)
    if unknown:
        import difflib

        name = unknown[0]
        close = difflib.get_close_matches(name, sorted(_INIT_OPTIONS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise TypeError(f"{where}() got an unexpected option {name!r}{hint}")


def _current_config() -> Config:
    from flyte._config import current

    return current()


class _ConfigView(Mapping[str, Any]):
    """Read-only dict view of the frozen `flyte._config.Config`, for code written against
    the module-level dict this module used to hold (`_run._config.get("endpoint")`)."""

    def __getitem__(self, key: str) -> Any:
        value = getattr(_current_config(), key, None)
        if value is None:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        from dataclasses import fields

        config = _current_config()
        return iter([f.name for f in fields(config) if getattr(config, f.name) is not None])

    def __len__(self) -> int:
        return sum(1 for _ in self)


_config = _ConfigView()

_EXECUTORS = ("inline", "process", "dask", "auto")
_WAIT_SLICE = 0.25


def _check_executor(spec: Any) -> None:
    if isinstance(spec, str) and (spec in _EXECUTORS or spec.startswith("dask://")):
        return
    # A distributed.Client (checked by name: importing dask here would make init slow).
    if not isinstance(spec, str) and type(spec).__module__.split(".")[0] == "distributed":
        return
    from flyte.errors import InvalidOptionError

    raise InvalidOptionError(
        f"executor {spec!r} is not known; use 'inline', 'process', 'dask', 'dask://HOST:PORT' or a distributed.Client"
    )


def _connect_executor(executor: Any) -> None:
    """Reach a Dask executor before the run is recorded.

    An unreachable scheduler (or a typo in `$FLYTE_EXECUTOR`) is bad input, reported at
    once as a one-line error, not a run that fails on its first action.
    """
    if executor is None:
        from flyte._config import executor_spec

        executor = executor_spec()
    if executor is None or (executor in _EXECUTORS and executor != "dask"):
        return
    _check_executor(executor)
    from flyte._controller.dask_cluster import open_cluster

    open_cluster(executor)


def init_from_config(path_or_config: str | os.PathLike[str] | None = None, **kwargs: Any) -> None:
    """`flyte.init` from a config file: `endpoint`, `api_key`, `store` (TOML, JSON or YAML).

    Without a path: `$FLYTE_CONFIG`, else `./.flyte/config.toml`, else
    `$FLYTE_HOME/config.toml`. No file, or an upstream cluster's endpoint, means local.

    Raises:
        UserError: the file cannot be parsed.
    """
    from flyte.remote._config import read_config

    _check_init_options(kwargs, "flyte.init_from_config")
    settings = read_config(path_or_config)
    keys = ("store", "root_dir", "endpoint", "api_key", "executor", "log_level")
    settings.update({k: v for k, v in kwargs.items() if k in keys})
    init(**settings)


def _remote(store: RunStore | None = None) -> RemoteController | None:
    """The switch point: the server's controller when runs go to a flyte server, else None.

    An endpoint from `flyte.init` or `$FLYTE_ENDPOINT` (or a store read over HTTP) selects
    the server; httpx is imported only then.
    """
    if store is not None and not getattr(store, "remote", False):
        return None
    from flyte._config import server_endpoint

    if store is None and server_endpoint() is None:
        return None  # a local run does not import flyte.remote
    from flyte.remote._controller import remote_controller

    return remote_controller(store)


def current_store() -> RunStore:
    """The server's store when an endpoint is configured, else the store `flyte.init`
    chose, else `$FLYTE_STORE` / `$FLYTE_HOME/runs.db`."""
    remote = _remote()
    if remote is not None:
        return remote.store
    return local_store()


def local_store() -> RunStore:
    """The store `flyte.init` chose, else `$FLYTE_STORE` / `$FLYTE_HOME/runs.db` (never a server)."""
    store = _current_config().store
    if store is not None:
        return store  # type: ignore[no-any-return]
    from flyte._store import default_store

    return default_store()


class Outputs(tuple):  # type: ignore[type-arg]
    """A run's outputs, tuple-like as upstream: `outputs()[0]`, `.o0`, or unpack several."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("o") and name[1:].isdigit() and int(name[1:]) < len(self):
            return self[int(name[1:])]
        raise AttributeError(name)

    @property
    def named_outputs(self) -> dict[str, Any]:
        return {f"o{i}": v for i, v in enumerate(self)}


def _as_outputs(task_arity: int, value: Any) -> Outputs:
    if task_arity > 1 and isinstance(value, tuple):
        return Outputs(value)
    return Outputs((value,))


class Run:
    """A handle on a run: its name, phase, outputs, logs; returned by `flyte.run`.

    Example:
        run = flyte.run(main, name="World")
        print(run.name, run.phase, run.outputs()[0])
    """

    def __init__(
        self,
        name: str,
        store: RunStore,
        *,
        future: concurrent.futures.Future[Any] | None = None,
        state: RunState | None = None,
        arity: int | None = None,
        controller: Controller | None = None,
    ) -> None:
        self.name = name
        self.store = store
        self._future = future
        self._state = state
        self._arity = arity
        self._controller = controller

    @property
    def url(self) -> str:
        return f"flyte://local/{self.name}"

    @property
    def record(self) -> RunRecord:
        self._flush()
        rec = self.store.get_run(self.name)
        if rec is None:
            raise RunNotFoundError(f"run {self.name!r} not found in {self.store.path}")
        return rec

    @property
    def phase(self) -> Phase:
        return self.record.phase

    def done(self) -> bool:
        if self._future is not None:
            return self._future.done()
        return self.phase.is_terminal

    def _flush(self) -> None:
        if self._state is not None:
            self._state.writer.flush(run=self.name)

    @aio_method
    def wait(self, timeout: float | None = None, *, quiet: bool = True) -> Run:
        """Block until the run ends (also for runs driven by another process)."""
        if self._future is not None:
            controller = self._controller or _controller()
            end = None if timeout is None else time.monotonic() + timeout
            try:
                # In slices: Ctrl-C may be delivered to any thread, and then only a main
                # thread that wakes up now and then runs Python's handler (a lock wait
                # without a timeout never returns to it).
                while True:
                    left = _WAIT_SLICE if end is None else min(_WAIT_SLICE, end - time.monotonic())
                    if controller.wait(self._future, max(left, 0.0)) or left <= 0:
                        break
            except KeyboardInterrupt:
                self.abort()
                controller.wait(self._future, 10)
                self._flush()
                raise
            self._flush()
            return self
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.phase.is_terminal:
            if deadline is not None and time.monotonic() > deadline:
                break
            time.sleep(0.1)
        return self

    def exception(self) -> BaseException | None:
        """The exception the root task raised (for runs driven by this process)."""
        if self._future is None or not self._future.done():
            return None
        return self._future.exception()

    @aio_method
    def outputs(self) -> Outputs:
        """The root task's outputs, tuple-like (`run.outputs()[0]` for a single output).

        Raises:
            UserError: the run did not succeed.
        """
        self.wait()
        if self._future is not None:
            exc = self._future.exception()
            if exc is not None:
                raise exc
            value = self._future.result()
        else:
            rec = self.record
            if rec.phase is not Phase.SUCCEEDED:
                raise UserError(f"run {self.name} ended {rec.phase.value}: {rec.error_message}")
            from flyte._serde import loads

            blob = self.store.get_blob(self.name, None, "outputs")
            value = loads(blob) if blob is not None else None
        arity = self._arity
        if arity is None:
            arity = int(self.record.settings.get("output_arity", 1))
        return _as_outputs(arity, value)

    def inputs(self) -> dict[str, Any]:
        import json

        return json.loads(self.record.inputs_json)  # type: ignore[no-any-return]

    def actions(self) -> list[ActionRecord]:
        self._flush()
        return self.store.list_actions(self.name)

    @property
    def action(self) -> Any:
        """The run's root action as a `flyte.remote.Action` (upstream's `run.action`)."""
        from flyte.errors import RunNotFoundError
        from flyte.remote import Action

        # A run just started records its root action a moment later, on the engine's loop.
        deadline = time.monotonic() + 10
        while True:
            self._flush()
            root = self.store.get_action(self.name, "a0")
            if root is not None:
                return Action(root)
            if self.done() or time.monotonic() > deadline:
                raise RunNotFoundError(f"run {self.name} has no root action recorded")
            time.sleep(0.01)

    def get_debug_url(self) -> str | None:
        """The URL of the run's debug session: None here (no VS Code server runs locally)."""
        return None

    def get_report(self, attempt: int | None = None) -> str:
        """The root action's report as one self-contained HTML page (upstream's `get_report`).

        `attempt` is accepted as upstream's; the report kept is the last attempt's.

        Raises:
            ReportNotFoundError: the root task logged no report.
        """
        from flyte.report._html import action_report_html

        self._flush()
        return action_report_html(self.store, self.name, "a0", f"{self.record.task} · {self.name}")

    def abort(self) -> bool:
        """Abort the run, here or in the process driving it."""
        controller = self._controller or _controller()
        if controller.abort(self.name):
            return True
        requested = self.store.request_abort(self.name)
        # A run of this process registers with the controller just after it is recorded,
        # and checks the store once then: asking again here closes that window.
        return controller.abort(self.name) or requested

    def show_logs(self, action: str | None = None) -> None:
        self._flush()
        for line in self.store.logs(self.name, action_id=action):
            print(line.line)

    def _repr_html_(self) -> str:
        """How a Run shows itself in a notebook: phase, action tree, outputs, durations."""
        from flyte._notebook import run_html

        return run_html(self.record, self.actions())

    def __repr__(self) -> str:
        return f"Run(name={self.name!r})"


class RunContext:
    """Run options applied to the next `.run(...)`: returned by `flyte.with_runcontext`."""

    def __init__(
        self,
        *,
        mode: str | None = None,
        name: str | None = None,
        disable_run_cache: bool = False,
        overwrite_cache: bool = False,
        env_vars: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        recover_from: str | None = None,
        store: RunStore | None = None,
        echo: bool = True,
        raise_on_failure: bool = True,
        wait: bool = True,
        executor: Any = None,
        **kwargs: Any,
    ) -> None:
        if mode not in (None, "local", "remote", "hybrid"):
            raise UserError(f"mode must be 'local', 'remote' or 'hybrid', got {mode!r}")
        cluster_only: dict[str, Any] = {}
        if kwargs.get("notifications") is not None:
            from flyte._cluster import describe, note
            from flyte.notify import check_notifications

            found = check_notifications(kwargs["notifications"])
            cluster_only["notifications"] = [describe(n) for n in found]
            note("notifications=", "notifications are sent by a Flyte cluster")
        if kwargs.get("debug"):
            from flyte._cluster import note

            cluster_only["debug"] = True
            note(
                "debug=True",
                "a debug session (VS Code server) runs in a cluster's task pod; "
                "here, run the script under your own debugger",
            )
        if mode in ("remote", "hybrid") and not (
            _current_config().endpoint or os.environ.get("FLYTE_ENDPOINT")
        ):
            from flyte._cluster import note

            note(
                f"mode={mode!r}",
                "no server is configured (flyte.init(endpoint=...)), so runs are local",
            )
        from flyte._controller.state import RunOptions

        self.options = RunOptions(
            name=name,
            mode="local",
            disable_run_cache=disable_run_cache,
            overwrite_cache=overwrite_cache,
            env_vars=env_vars,
            labels=labels,
            recover_from=recover_from,
            echo=echo,
            executor=executor,
            cluster_only=cluster_only,
        )
        if executor is not None:
            _check_executor(executor)
        self.store = store
        self.raise_on_failure = raise_on_failure
        self.wait_for_end = wait
        # with_runcontext("local") runs here even when a server is configured, as upstream.
        self.force_local = mode == "local"

    def start(self, task: TaskTemplate[Any, Any], *args: Any, **kwargs: Any) -> Run:
        """Start the run and return at once (the run goes on in the background)."""
        remote = None if self.force_local else _remote(self.store)
        if remote is not None:
            return remote.start_run(task=task, args=args, kwargs=kwargs, options=self.options)
        from flyte._task import TaskTemplate

        task = _resolve(task)
        if not isinstance(task, TaskTemplate):
            raise UserError(f"flyte.run needs a task made with @env.task, got {task!r}")
        store = self.store or (local_store() if self.force_local else current_store())
        name = self.options.name or new_run_name()
        require_writable = getattr(store, "require_writable", None)
        if require_writable is not None:  # a read-only store: say so before anything runs
            require_writable()
        if store.get_run(name) is not None:
            raise UserError(f"a run named {name!r} already exists; choose another name")
        if self.options.recover_from and store.get_run(self.options.recover_from) is None:
            raise RunNotFoundError(
                f"cannot recover from {self.options.recover_from!r}: no such run"
            )
        from flyte._coerce import coerce_inputs

        args, kwargs = coerce_inputs(task, args, kwargs)
        _connect_executor(self.options.executor)
        controller = _controller()
        state, future = controller.start_run(
            name=name, store=store, task=task, args=args, kwargs=kwargs, options=self.options
        )
        return Run(
            name,
            store,
            future=future,
            state=state,
            arity=task.output_arity,
            controller=controller,
        )

    @aio_method
    def run(self, task: TaskTemplate[Any, Any], *args: Any, **kwargs: Any) -> Run:
        """Run `task` with these inputs and wait for it to end.

        Raises:
            Exception: the root task's own exception, when the run fails.
        """
        handle = self.start(task, *args, **kwargs)
        if not self.wait_for_end:
            return handle
        from flyte._notebook import in_notebook, wait_with_progress

        if in_notebook():
            wait_with_progress(handle)
        else:
            handle.wait()
        exc = handle.exception()
        if exc is not None and self.raise_on_failure:
            raise exc
        return handle

    async def run_aio(self, task: TaskTemplate[Any, Any], *args: Any, **kwargs: Any) -> Run:
        """`run` for code already inside an event loop (notebooks): awaits the run's end."""
        from flyte._notebook import await_with_progress

        handle = self.start(task, *args, **kwargs)
        if handle._future is None:  # driven by a server
            import asyncio

            await asyncio.to_thread(handle.wait)
            exc = handle.exception()
            if exc is not None and self.raise_on_failure:
                raise exc
            return handle
        await await_with_progress(handle)
        return handle


def _controller() -> Controller:
    """The controller that drives runs started here (the local engine unless configured)."""
    from flyte._controller import get_controller

    return get_controller()


def _resolve(task: Any) -> Any:
    resolve = getattr(task, "resolve_task", None)
    return resolve() if callable(resolve) else task


def with_runcontext(mode: str | None = None, **options: Any) -> RunContext:
    """Options for one run: `flyte.with_runcontext(name=..., overwrite_cache=True).run(t, ...)`.

    Args:
        mode: "local" (the default; also `with_runcontext("local")` as upstream).
        **options: name, disable_run_cache, overwrite_cache, env_vars, labels,
            recover_from, ...
    """
    return RunContext(mode=mode, **options)


class _RunFunction:
    """`flyte.run(task, ...)` and `await flyte.run.aio(task, ...)`."""

    def __call__(self, task: Any, *args: Any, **kwargs: Any) -> Run:
        return RunContext().run(task, *args, **kwargs)

    async def aio(self, task: Any, *args: Any, **kwargs: Any) -> Run:
        return await RunContext().run_aio(task, *args, **kwargs)


run = _RunFunction()


def rerun(run_name: str, recover: bool = False, **new_inputs: Any) -> Run:
    """A new run of the task of `run_name`, with its inputs (updated by `new_inputs`).

    With `recover=True`, every action and trace of the old run that succeeded with the same
    id and inputs is reused and marked recovered instead of executing again.

    Raises:
        RunNotFoundError: there is no such run, or its task could not be restored.
    """
    remote = _remote()
    if remote is not None:
        handle = remote.rerun(run_name, recover=recover, new_inputs=new_inputs)
        exc = handle.wait().exception()
        if exc is not None:
            raise exc
        return handle
    store = current_store()
    old = store.get_run(run_name)
    if old is None:
        raise RunNotFoundError(f"run {run_name!r} not found; `flyte get runs` lists runs")
    task, args, kwargs = load_run_task(store, old)
    if new_inputs:
        bound = task.bind(tuple(args), dict(kwargs))
        unknown = sorted(set(new_inputs) - set(bound))
        if unknown:
            raise UserError(f"{task.name} has no input {unknown[0]!r}; inputs: {', '.join(bound)}")
        bound.update(new_inputs)
        args, kwargs = (), bound
    return RunContext(recover_from=run_name if recover else None).run(task, *args, **kwargs)


def load_run_task(
    store: RunStore, record: RunRecord
) -> tuple[TaskTemplate[Any, Any], tuple[Any, ...], dict[str, Any]]:
    """The task and inputs of a recorded run, to run it again.

    Raises:
        RunNotFoundError: neither the source nor the snapshot can be loaded.
        StoreIntegrityError: the stored inputs or snapshot fail their integrity check.
    """
    task = load_recorded_task(store, record)
    args, kwargs = load_run_inputs(store, record)
    return task, args, kwargs


def load_run_inputs(store: RunStore, record: RunRecord) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The exact positional and keyword inputs of a recorded run.

    Raises:
        RunNotFoundError: the run has no stored inputs.
        StoreIntegrityError: they fail their integrity check (they are never unpickled).
    """
    from flyte._serde import loads

    inputs_blob = store.get_blob(record.name, None, "inputs")
    if inputs_blob is None:
        raise RunNotFoundError(f"run {record.name!r} has no stored inputs to rerun")
    args, kwargs = loads(inputs_blob)
    return tuple(args), dict(kwargs)


def load_recorded_task(store: RunStore, record: RunRecord) -> TaskTemplate[Any, Any]:
    """The task of a recorded run (without touching its stored inputs).

    The task is loaded from its source file when that still exists, so a rerun picks up
    code fixed since (the point of recovering a failed run); otherwise from the
    authenticated snapshot taken when the run started.

    Raises:
        RunNotFoundError: neither the source nor the snapshot can be loaded.
        StoreIntegrityError: the snapshot fails its integrity check.
    """
    from flyte._serde import loads

    source = record.settings.get("source") or {}
    task = _task_from_source(source) if source else None
    if task is None:
        blob = store.run_task_blob(record.name)
        if blob is None:
            where = source.get("file") or "its source"
            raise RunNotFoundError(
                f"run {record.name!r}: its task {record.task} is no longer in {where}"
            )
        task = loads(blob)
    return task


def _task_from_source(source: dict[str, Any]) -> TaskTemplate[Any, Any] | None:
    import importlib.util
    import sys

    from flyte._task import TaskTemplate

    module_name, file, function = source.get("module"), source.get("file"), source.get("function")
    module = sys.modules.get(module_name) if module_name and module_name != "__main__" else None
    if module is None and file and os.path.exists(file):
        name = module_name if module_name and module_name != "__main__" else "flyte_rerun_main"
        spec = importlib.util.spec_from_file_location(name, file)
        if spec is None or spec.loader is None:
            return None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        parent = os.path.dirname(file)
        if parent not in sys.path:
            sys.path.insert(0, parent)
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)  # never leave a half-imported module behind
            raise
    task = getattr(module, function, None) if module is not None and function else None
    if isinstance(task, TaskTemplate) and task.name == source.get("task"):
        return task
    return None
