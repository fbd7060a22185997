"""RunState: everything the engine knows about one run while it executes."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flyte.errors import EnvVarConflictError

if TYPE_CHECKING:
    from flyte._context import ActionContext
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
        # Run options only a cluster acts on (notifications, queue, ...): recorded.
        self.cluster_only = dict(cluster_only or {})


class RunState:
    """The live state of one run: its store writer, recovered results and environment."""

    def __init__(self, *, name: str, store: RunStore, writer: Writer, options: RunOptions) -> None:
        self.name = name
        self.store = store
        self.writer = writer
        self.options = options
        self.controller: Any = None  # the LocalController driving this run
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
        self.sync_threads: dict[str, int] = {}
        # Futures of calls made from worker threads: no asyncio task awaits them, so an
        # abort must cancel them by hand.
        self.detached: set[Any] = set()
        # task name -> its cache entries (key -> outputs), loaded on the first look-up.
        self.cache_index: dict[str, Any] = {}
        # action id -> (attempt, flyte.report.Report) of report=True tasks while they run.
        self.reports: dict[str, tuple[int, Any]] = {}
        self.started_at = time.time()

    @property
    def data_dir(self) -> Path:
        from flyte._store import flyte_home

        return flyte_home() / "data" / self.name

    # -- logs ----------------------------------------------------------------------

    def log(self, action: ActionContext, stream: str, line: str) -> None:
        self.writer.put(
            (
                "log",
                {
                    "run": self.name,
                    "action": action.action_id,
                    "attempt": action.attempt,
                    "ts": time.time(),
                    "stream": stream,
                    "line": line,
                },
            )
        )

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
