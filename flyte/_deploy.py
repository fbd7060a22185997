"""flyte.deploy: register environments' tasks, with versions, in the store's task registry."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flyte._cluster import Environment
    from flyte._environment import TaskEnvironment
    from flyte._task import TaskTemplate

__all__ = ["Deployment", "deploy", "snapshot_task"]

_BY_VALUE_LOCK = threading.Lock()


@dataclass(frozen=True, kw_only=True)
class Deployment:
    """What `flyte.deploy` registered for one environment."""

    env: str
    version: str
    tasks: list[str] = field(default_factory=list)
    dry_run: bool = False
    app: dict[str, Any] | None = None  # an app environment's settings (flyte.app)

    def summary_repr(self) -> str:
        return f"{self.env} @ {self.version}: {', '.join(self.tasks)}"

    def env_repr(self) -> list[tuple[str, str]]:
        return [("environment", self.env), ("version", self.version)]

    def table_repr(self) -> list[list[tuple[str, str]]]:
        """One row per deployed task or app, as (column, value) pairs (upstream's shape)."""
        if self.app is not None:
            endpoint = f"http://localhost:{self.app['port']}"
            return [[("type", "App"), ("name", self.env), ("version", self.version),
                     ("endpoint", endpoint)]]  # fmt: skip
        return [[("type", "Task"), ("name", t), ("version", self.version)] for t in self.tasks]


def snapshot_task(task: TaskTemplate[Any, Any], *, sealed: bool = True) -> bytes:
    """Pickle a task by value, so the registered code does not change when the file does.

    Sealed with this home's key for a local store; unsealed to ship to a server (over its
    authenticated connection), which seals it with its own.
    """
    import sys

    import cloudpickle

    from flyte._serde import seal

    module = task.__module__
    mod = sys.modules.get(module)
    # cloudpickle's by-value registry is process-wide: one snapshot at a time, or a thread
    # unregisters the module while another pickles it (by reference, silently) or fails
    # to unregister it. A module the user registered stays registered.
    with _BY_VALUE_LOCK:
        registered = False
        if (
            mod is not None
            and module != "__main__"
            and not module.startswith("flyte")
            and module not in cloudpickle.list_registry_pickle_by_value()
        ):
            try:
                cloudpickle.register_pickle_by_value(mod)
                registered = True
            except ValueError:
                registered = False
        try:
            data = bytes(cloudpickle.dumps(task))
        finally:
            if registered and mod is not None:
                cloudpickle.unregister_pickle_by_value(mod)
    return seal(data) if sealed else data


def _collect(envs: tuple[Any, ...]) -> list[Any]:
    seen: dict[str, Any] = {}
    stack = list(envs)
    while stack:
        env = stack.pop(0)
        if env.name in seen:
            continue
        seen[env.name] = env
        stack.extend(env.depends_on)
    return list(seen.values())


def _deploy_app(
    env: Any, settings: dict[str, Any], version: str | None, dry_run: bool
) -> Deployment:
    """An app is validated and its settings returned; it runs when served (`flyte.serve`)."""
    from flyte._cluster import note
    from flyte._hashing import stable_hash

    note(
        f"deploying app {env.name!r}",
        "apps run on this machine when served: flyte.serve(app_env)",
    )
    return Deployment(
        env=env.name,
        version=version or stable_hash(settings)[:12],
        dry_run=dry_run,
        app=settings,
    )


def deploy(
    *envs: TaskEnvironment | Environment,
    version: str | None = None,
    dry_run: bool = False,
    **kwargs: Any,
) -> list[Deployment]:
    """Register every task of `envs` (and the environments they depend on).

    Args:
        *envs: the environments to deploy.
        version: the version to register under; defaults to a hash of the code.
        dry_run: compute and report, but write nothing.

    Returns:
        One Deployment per environment.
    """
    from flyte._codeversion import code_version
    from flyte._hashing import stable_hash
    from flyte._run import current_store

    store = current_store()
    out: list[Deployment] = []
    ops: list[Any] = []
    now = time.time()
    remote = type(store).__name__ == "HttpRunStore"  # the server seals what it stores
    for env in _collect(envs):
        settings = getattr(env, "settings", None)
        if callable(settings) and not hasattr(env, "tasks"):  # a flyte.app environment
            out.append(_deploy_app(env, settings(), version, dry_run))
            continue
        tasks = list(env.tasks.values())
        env_version = version or stable_hash([code_version(t.func).digest for t in tasks])[:12]
        for t in tasks:
            ops.append(
                (
                    "deploy",
                    {
                        "name": t.name,
                        "version": env_version,
                        "env": env.name,
                        "interface": t.interface,
                        "settings": t.settings,
                        "snapshot": snapshot_task(t, sealed=not remote),
                        "created_at": now,
                    },
                )
            )
        out.append(
            Deployment(
                env=env.name, version=env_version, tasks=[t.name for t in tasks], dry_run=dry_run
            )
        )
    if not dry_run:
        store.write(ops)
    return out
