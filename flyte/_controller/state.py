"""RunState: everything the engine knows about one run while it executes."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flyte import _serde
from flyte._controller.calls import SyncThreads
from flyte._controller.recorder import Recorder
from flyte.errors import EnvVarConflictError

if TYPE_CHECKING:
    from flyte._context import ActionContext
    from flyte._controller.recorder import TraceRecord
    from flyte._controller.writer import Writer
    from flyte._store import RunStore

__all__ = ["RunOptions", "RunState"]


class RunOptions:
    """Per-run switches from `flyte.with_runcontext(...)` and the CLI."""

    def __init__(
        self,
        *,
        name: str | None = None,
        mode: str = "local",
        disable_run_cache: bool = False,
        overwrite_cache: bool = False,
        env_vars: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        recover_from: str | None = None,
        echo: bool = True,
        executor: Any = None,
        cluster_only: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.mode = mode
        self.disable_run_cache = disable_run_cache
        self.overwrite_cache = overwrite_cache
        self.env_vars = dict(env_vars or {})
        self.labels = dict(labels or {})
        self.recover_from = recover_from
        self.echo = echo
        # None: the configured executor (`flyte.init(executor=)`, `$FLYTE_EXECUTOR`).
        self.executor = executor
        # Run options only a cluster acts on (notifications, queue, ...): recorded.
        self.cluster_only = dict(cluster_only or {})


class RunState:
    """The live state of one run: its store writer, recovered results and environment."""

    def __init__(self, *, name: str, store: RunStore, writer: Writer, options: RunOptions) -> None:
        self.name = name
        self.store = store
        self.writer = writer
        self.recorder = Recorder(writer)
        self.options = options
        self.controller: Any = None  # the Controller driving this run
        # The executor asked for ("inline", "process", a Dask spec) or None for the default:
        # in process, except tasks with resources or reusable go to process workers.
        self.executor: Any = options.executor
        self.mode = options.mode
        self.labels = options.labels
        self.echo = options.echo
        self.aborted = threading.Event()
        self.recovered: dict[str, tuple[str | None, bytes | None, str]] = {}
        # Results of traces that succeeded in this run: id -> (inputs hash, pickled value).
        self.trace_results: dict[str, tuple[str | None, bytes]] = {}
        self._env_lock = threading.Lock()
        self._env_set: dict[str, tuple[str, str]] = {}
        self._env_saved: dict[str, str | None] = {}
        self.sync_threads = SyncThreads()
        # Futures of calls made from worker threads: no asyncio task awaits them, so an
        # abort must cancel them by hand.
        self.detached: set[Any] = set()
        # task name -> its cache entries (key -> outputs), loaded on the first look-up.
        self.cache_index: dict[str, Any] = {}
        # action id -> (attempt, flyte.report.Report) of report=True tasks while they run.
        self.reports: dict[str, tuple[int, Any]] = {}
        self.started_at = time.time()
        self.seal_key = _serde.home_key()  # outputs are sealed with it (flyte._serde)

    @property
    def data_dir(self) -> Path:
        from flyte._store import flyte_home

        return flyte_home() / "data" / self.name

    # -- logs ----------------------------------------------------------------------

    def log(self, action: ActionContext, stream: str, line: str) -> None:
        self.recorder.log(self.name, action.action_id, action.attempt, stream, line, time.time())

    # -- traces --------------------------------------------------------------------

    def trace_lookup(self, trace_id: str) -> tuple[str | None, bytes, bool] | None:
        """(inputs hash, pickled value, from the recovered run) of a trace that succeeded."""
        found = self.trace_results.get(trace_id)
        if found is not None:
            return found[0], found[1], False
        rec = self.recovered.get(trace_id)
        if rec is not None and rec[1] is not None:
            return rec[0], rec[1], True
        return None

    def record_trace(self, trace: TraceRecord) -> None:
        """Record a finished (or replayed) trace; a success becomes replayable in this run."""
        if trace.phase == "SUCCEEDED" and trace.blob is not None:
            self.trace_results[trace.id] = (trace.inputs_hash, trace.blob)
        self.recorder.trace_recorded(self.name, trace)

    # -- environment variables -----------------------------------------------------

    def apply_env(self, owner: str, values: dict[str, str]) -> None:
        """Set `values` in os.environ for the rest of the run.

        Threads share one os.environ, so two environments of one run that set a variable
        differently cannot both be honoured in process.

        Raises:
            EnvVarConflictError: a variable is already set differently by another owner.
        """
        if not values:
            return
        with self._env_lock:
            for key, value in values.items():
                current = self._env_set.get(key)
                if current is not None and current[1] != value:
                    raise EnvVarConflictError(
                        f"environment variable {key} is set to {current[1]!r} by {current[0]} "
                        f"and to {value!r} by {owner} in the same process; use distinct "
                        "names, or run these environments in process workers"
                    )
                if current is None:
                    self._env_saved.setdefault(key, os.environ.get(key))
                    self._env_set[key] = (owner, value)
                    os.environ[key] = value

    def base_environ(self) -> dict[str, str]:
        """os.environ as it was before this run set anything in it (for worker processes)."""
        with self._env_lock:
            env = dict(os.environ)
            for key, old in self._env_saved.items():
                if old is None:
                    env.pop(key, None)
                else:
                    env[key] = old
        return env

    def restore_env(self) -> None:
        with self._env_lock:
            for key, old in self._env_saved.items():
                if old is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = old
            self._env_saved.clear()
            self._env_set.clear()

    def settings(self) -> dict[str, Any]:
        o = self.options
        return {
            "mode": o.mode,
            "disable_run_cache": o.disable_run_cache,
            "overwrite_cache": o.overwrite_cache,
            "env_vars": o.env_vars,
            **({"cluster_only": o.cluster_only} if o.cluster_only else {}),
        }
