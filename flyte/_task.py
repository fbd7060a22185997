"""TaskTemplate: a function made into a task; a plain call outside a run, an action inside."""

from __future__ import annotations

import copy
import inspect
import os
import sys
import typing
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from flyte._cache import Cache, normalize_cache
from flyte._context import _current, current_action
from flyte._options import (
    Resources,
    RetryStrategy,
    ReusePolicy,
    Secret,
    Timeout,
    normalize_retries,
    normalize_timeout,
)
from flyte.errors import InvalidOptionError

if TYPE_CHECKING:
    from datetime import timedelta

    from flyte._environment import TaskEnvironment

__all__ = ["TaskTemplate"]

_NO_KWARGS: dict[str, Any] = {}  # shared by calls without keyword arguments; never mutated

P = ParamSpec("P")
R = TypeVar("R")


def _type_name(annotation: Any) -> str:
    if annotation is inspect.Parameter.empty:
        return "Any"
    if isinstance(annotation, type) and typing.get_origin(annotation) is None:
        return annotation.__name__
    return str(annotation).replace("typing.", "")


class TaskTemplate(Generic[P, R]):
    """A task: the function, its environment and its options.

    Example:
        env = flyte.TaskEnvironment("demo")

        @env.task(retries=2, timeout=60)
        async def square(x: int) -> int:
            return x * x
    """

    # Whether the async body calls the blocking flyte.map, once known (see own_loop.py).
    _flyte_own_loop: bool | None = None
    _plain: bool | None = None  # see `plain`; None: not decided yet
    # (input name -> check, output check), compiled on first use (flyte._typecheck)
    _checks: tuple[dict[str, Any], Any] | None = None

    def __init__(
        self,
        func: Callable[P, R],
        *,
        env: TaskEnvironment,
        short_name: str | None = None,
        cache: Cache | str | bool | None = None,
        retries: int | RetryStrategy | None = None,
        timeout: Timeout | timedelta | int | float | None = None,
        resources: Resources | None = None,
        env_vars: dict[str, str] | None = None,
        secrets: Any = None,
        reusable: ReusePolicy | None = None,
        report: bool = False,
        docs: Any = None,
        pod_template: Any = None,
        max_inline_io_bytes: int | None = None,
        queue: str | None = None,
        interruptible: bool | None = None,
        triggers: Any = (),
        links: Any = (),
        entrypoint: bool = False,
        produces_artifacts: bool = False,
    ) -> None:
        if not callable(func):
            raise InvalidOptionError(f"@env.task needs a function, got {func!r}")
        self.func = func
        self.__wrapped__ = func
        self.__name__ = getattr(func, "__name__", "task")
        self.__qualname__ = getattr(func, "__qualname__", self.__name__)
        self.__module__ = getattr(func, "__module__", "__main__")
        self.__doc__ = func.__doc__
        self.env = env
        self.short_name = short_name or self.__name__
        self.name = f"{env.name}.{self.__name__}"
        self.is_async = inspect.iscoroutinefunction(func)
        self.report = report
        if report:
            from flyte.report._report import REPORT_TASKS

            REPORT_TASKS.add(self.name)
        self.docs = docs
        self.cache = normalize_cache(cache if cache is not None else env.cache)
        self.retries = normalize_retries(retries)
        self.timeout = normalize_timeout(timeout)
        self.resources = resources if resources is not None else env.resources
        if self.resources is not None and not isinstance(self.resources, Resources):
            raise InvalidOptionError(
                f"resources must be flyte.Resources(...), got {self.resources!r}"
            )
        self.env_vars = {**(env.env_vars or {}), **(env_vars or {})}
        self.secrets = _normalize_secrets(secrets if secrets is not None else env.secrets)
        self.reusable = reusable if reusable is not None else env.reusable
        self.entrypoint = bool(entrypoint)
        self.queue = queue
        self.interruptible = interruptible
        self.pod_template = pod_template
        self.triggers = tuple(triggers) if isinstance(triggers, list | tuple) else (triggers,)
        self.links = tuple(links) if isinstance(links, list | tuple) else (links,)
        self.produces_artifacts = produces_artifacts
        self.cluster_only = _cluster_only(self)
        self.signature = inspect.signature(func)
        self._setup_interface()

    def _setup_interface(self) -> None:
        params = list(self.signature.parameters.values())
        self._names = [p.name for p in params]
        self._simple = all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params)
        try:
            hints = typing.get_type_hints(self.func)
        except Exception:  # unresolvable forward references: fall back to raw annotations
            hints = {}
        self.input_types = {p.name: hints.get(p.name, p.annotation) for p in params}
        ret = hints.get("return", self.signature.return_annotation)
        self.output_type = ret
        origin = typing.get_origin(ret)
        targs = typing.get_args(ret)
        if ret is None or ret is type(None):
            self.output_arity = 0
        elif origin is tuple and targs and targs[-1] is not Ellipsis:
            self.output_arity = len(targs)
        else:
            self.output_arity = 1
        self.interface = {
            "inputs": {
                p.name: {
                    "type": _type_name(self.input_types[p.name]),
                    "default": None
                    if p.default is inspect.Parameter.empty
                    else _stable_repr(p.default),
                    "required": p.default is inspect.Parameter.empty,
                }
                for p in params
            },
            "outputs": _type_name(ret),
        }
        from flyte._hashing import stable_hash

        self.interface_digest = stable_hash(self.interface)
        self._settings: dict[str, Any] | None = None
        self._env_values: dict[str, str] | None = None

    # -- recorded settings ---------------------------------------------------------

    @property
    def env_name(self) -> str:
        return self.env.name

    @property
    def settings(self) -> dict[str, Any]:
        """What is recorded on every action of this task (resources, env, retries, ...)."""
        if self._settings is None:
            image = self.env.image
            self._settings = {
                "env": self.env.name,
                "resources": self.resources.to_dict() if self.resources else None,
                "retries": self.retries.count,
                "timeout": self.timeout.seconds if self.timeout else None,
                "cache": self.cache.to_dict(),
                "env_vars": dict(self.env_vars),
                "secrets": [s.key for s in self.secrets],
                "reusable": self.reusable.to_dict() if self.reusable else None,
                "image": image.to_dict() if hasattr(image, "to_dict") else str(image),
            }
            if self.timeout is not None:
                self._settings["timeouts"] = self.timeout.to_dict()
            if self.report:
                self._settings["report"] = True
            if self.entrypoint:
                self._settings["entrypoint"] = True
            if self.cluster_only:
                self._settings["cluster_only"] = self.cluster_only
        return self._settings

    @property
    def plain(self) -> bool:
        """Whether calls run on the engine's one-frame path (`LocalController._start`): an
        async body run in process, without cache, retries, timeout, report or env vars."""
        if self._plain is None:
            from flyte._controller.own_loop import needs_own_loop

            self._plain = (
                self.is_async
                and not self.cache.enabled
                and self.retries.count == 0
                and self.timeout is None
                and not self.report
                and self.resources is None
                and self.reusable is None
                and not self.env_values
                and not needs_own_loop(self)
            )
        return self._plain

    @property
    def env_values(self) -> dict[str, str]:
        """Env vars and secret values set while this task runs."""
        if self._env_values is None:
            values = dict(self.env_vars)
            for secret in self.secrets:
                key = secret.key.upper().replace("-", "_").replace(".", "_")
                value = os.environ.get(f"FLYTE_SECRET_{key}", os.environ.get(secret.key))
                if value is not None:
                    values[secret.env_var] = value
            self._env_values = values
        return self._env_values

    # -- calling -------------------------------------------------------------------

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Map call arguments to input names, defaults applied.

        Raises:
            TypeError: the arguments do not match the signature.
        """
        if self._simple and not kwargs and len(args) == len(self._names):
            return dict(zip(self._names, args, strict=True))
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return dict(bound.arguments)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        action = _current.get()
        if action is None:
            return self.func(*args, **kwargs)
        # A wide fan-out holds the kwargs of every call not yet started: share one empty.
        return action.run.controller.call(self, action, args, kwargs or _NO_KWARGS)  # type: ignore[no-any-return]

    async def aio(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        """Call the task from async code, whether its body is sync or async."""
        action = current_action()
        if action is None:
            result: Any = self.func(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result
        return await action.run.controller.call_aio(self, action, args, kwargs)

    def forward(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call the body directly: no action, no cache, no retries."""
        return self.func(*args, **kwargs)

    def override(
        self,
        *,
        resources: Resources | None = None,
        cache: Cache | str | bool | None = None,
        retries: int | RetryStrategy | None = None,
        timeout: Timeout | timedelta | int | float | None = None,
        env_vars: dict[str, str] | None = None,
        secrets: Any = None,
        reusable: ReusePolicy | str | None = None,
        short_name: str | None = None,
        **kwargs: Any,
    ) -> TaskTemplate[P, R]:
        """A copy of this task with some options replaced; the original is unchanged.

        Example:
            big = train.override(resources=flyte.Resources(memory="16Gi"), retries=0)
        """
        new = copy.copy(self)
        if resources is not None:
            if not isinstance(resources, Resources):
                raise InvalidOptionError(
                    f"resources must be flyte.Resources(...), got {resources!r}"
                )
            new.resources = resources
        if cache is not None:
            new.cache = normalize_cache(cache)
        if retries is not None:
            new.retries = normalize_retries(retries)
        if timeout is not None:
            new.timeout = normalize_timeout(timeout)
        if env_vars is not None:
            new.env_vars = {**self.env_vars, **env_vars}
        if secrets is not None:
            new.secrets = _normalize_secrets(secrets)
        if reusable is not None:
            new.reusable = None if reusable == "off" else reusable  # type: ignore[assignment]
        if short_name is not None:
            new.short_name = short_name
        new._settings = None
        new._env_values = None
        new._plain = None
        return new

    def source(self) -> dict[str, str | None]:
        """Where the task is defined: its module and file, so a rerun can load it again."""
        module = sys.modules.get(self.__module__)
        file = getattr(module, "__file__", None) or self.func.__code__.co_filename
        return {
            "module": self.__module__,
            "file": os.path.abspath(file) if file and os.path.exists(file) else None,
            "task": self.name,
            "function": self.__name__,
        }

    def __repr__(self) -> str:
        return f"<Task {self.name}>"


def _cluster_only(task: TaskTemplate[Any, Any]) -> dict[str, Any]:
    """Settings that only a cluster acts on: validated, recorded, noted once."""
    found = {
        "queue": task.queue,
        "interruptible": task.interruptible or None,
        "pod_template": task.pod_template,
        "triggers": list(task.triggers) or None,
        "links": list(task.links) or None,
        "produces_artifacts": task.produces_artifacts or None,
    }
    if all(value is None for value in found.values()):
        return {}  # the usual task: flyte._cluster is not imported for it
    from flyte._cluster import Trigger, describe, note

    for trigger in task.triggers:
        if not isinstance(trigger, Trigger):
            raise InvalidOptionError(f"triggers must be flyte.Trigger(...), got {trigger!r}")
    recorded = {k: describe(v) for k, v in found.items() if v is not None}
    for key in recorded:
        note(f"{key}=", "it only takes effect on a Flyte cluster")
    return recorded


def _normalize_secrets(value: Any) -> tuple[Secret, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list | tuple) else [value]
    out = []
    for item in items:
        if isinstance(item, str):
            out.append(Secret(key=item))
        elif isinstance(item, Secret):
            out.append(item)
        else:
            raise InvalidOptionError(f"secrets must be flyte.Secret or str, got {item!r}")
    return tuple(out)


AsyncTask = TaskTemplate[P, Awaitable[R]]


def _stable_repr(value: Any) -> str:
    """`repr(value)` without memory addresses: the interface (and the cache key) must be the
    same in every process, and `<function helper at 0x7f...>` never is."""
    import re

    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))
