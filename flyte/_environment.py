"""TaskEnvironment: a named group of tasks sharing defaults (image, resources, cache, env)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field, replace
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from flyte._cache import Cache, normalize_cache
from flyte._options import Image, Resources, ReusePolicy, Secret
from flyte._task import TaskTemplate
from flyte.errors import InvalidOptionError

if TYPE_CHECKING:
    from datetime import timedelta

    from flyte._options import RetryStrategy, Timeout

__all__ = ["TaskEnvironment"]

P = ParamSpec("P")
R = TypeVar("R")
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(eq=False)
class TaskEnvironment:
    """A named environment whose tasks share an image, resources, env vars and cache policy.

    Example:
        env = flyte.TaskEnvironment("hello_world", resources=flyte.Resources(cpu=1))

        @env.task
        def hello(name: str) -> str:
            return f"Hello, {name}!"
    """

    name: str
    _: KW_ONLY
    depends_on: list[TaskEnvironment] = field(default_factory=list)
    image: Image | str = "auto"
    resources: Resources | None = None
    env_vars: dict[str, str] | None = None
    secrets: Any = None
    cache: Cache | str | bool = "disable"
    reusable: ReusePolicy | None = None
    description: str | None = None
    pod_template: Any = None
    plugin_config: Any = None
    queue: str | None = None
    interruptible: bool = False
    include: tuple[str, ...] = ()
    tasks: dict[str, TaskTemplate[Any, Any]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise InvalidOptionError(
                f"environment name {self.name!r} is not valid; use letters, digits, '_' and '-'"
            )
        normalize_cache(self.cache)
        if self.resources is not None and not isinstance(self.resources, Resources):
            raise InvalidOptionError(
                f"resources must be flyte.Resources(...), got {self.resources!r}"
            )
        if self.reusable is not None and not isinstance(self.reusable, ReusePolicy):
            raise InvalidOptionError(
                f"reusable must be flyte.ReusePolicy(...), got {self.reusable!r}"
            )
        for key, value in (self.env_vars or {}).items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise InvalidOptionError(f"env_vars must map str to str, got {key!r}: {value!r}")
        if isinstance(self.include, str):
            raise InvalidOptionError(
                f"include must be a tuple of paths, got the string {self.include!r}; "
                f"write include=({self.include!r},)"
            )
        self.include = tuple(self.include)
        if isinstance(self.secrets, Secret | str):
            self.secrets = [self.secrets]
        self.depends_on = list(self.depends_on)

    @classmethod
    def from_task(
        cls,
        name: str,
        *tasks: TaskTemplate[Any, Any],
        depends_on: list[TaskEnvironment] | None = None,
    ) -> TaskEnvironment:
        """An environment holding tasks defined elsewhere (upstream's `from_task`)."""
        env = cls(name, depends_on=list(depends_on or []))
        for t in tasks:
            env.add_task(t)
        return env

    def add_task(self, task: TaskTemplate[Any, Any]) -> TaskTemplate[Any, Any]:
        """Register an existing task with this environment.

        Raises:
            InvalidOptionError: the environment already has a task of that name.
        """
        if task.__name__ in self.tasks:
            raise InvalidOptionError(
                f"Task {task.name} already exists in the environment. Task names should be unique."
            )
        self.tasks[task.__name__] = task
        return task

    @overload
    def task(self, _func: Callable[P, R], /) -> TaskTemplate[P, R]: ...

    @overload
    def task(
        self,
        _func: None = None,
        /,
        *,
        short_name: str | None = None,
        cache: Cache | str | bool | None = None,
        retries: int | RetryStrategy | None = None,
        timeout: Timeout | timedelta | int | float | None = None,
        docs: Any = None,
        pod_template: Any = None,
        report: bool = False,
        max_inline_io_bytes: int | None = None,
        secrets: Any = None,
        env_vars: dict[str, str] | None = None,
        resources: Resources | None = None,
        queue: str | None = None,
        interruptible: bool | None = None,
        triggers: Any = (),
        links: Any = (),
        entrypoint: bool = False,
        produces_artifacts: bool = False,
        task_resolver: Any = None,
    ) -> Callable[[Callable[P, R]], TaskTemplate[P, R]]: ...

    def task(
        self,
        _func: Callable[P, R] | None = None,
        /,
        *,
        short_name: str | None = None,
        cache: Cache | str | bool | None = None,
        retries: int | RetryStrategy | None = None,
        timeout: Timeout | timedelta | int | float | None = None,
        docs: Any = None,
        pod_template: Any = None,
        report: bool = False,
        max_inline_io_bytes: int | None = None,
        secrets: Any = None,
        env_vars: dict[str, str] | None = None,
        resources: Resources | None = None,
        queue: str | None = None,
        interruptible: bool | None = None,
        triggers: Any = (),
        links: Any = (),
        entrypoint: bool = False,
        produces_artifacts: bool = False,
        task_resolver: Any = None,
    ) -> TaskTemplate[P, R] | Callable[[Callable[P, R]], TaskTemplate[P, R]]:
        """Make a function a task of this environment; bare or with options.

        Raises:
            InvalidOptionError: an option is not valid (the message lists valid values).
        """

        def decorate(func: Callable[P, R]) -> TaskTemplate[P, R]:
            t = TaskTemplate(
                func,
                env=self,
                short_name=short_name,
                cache=cache,
                retries=retries,
                timeout=timeout,
                resources=resources,
                env_vars=env_vars,
                secrets=secrets,
                report=report,
                docs=docs,
                pod_template=pod_template if pod_template is not None else self.pod_template,
                max_inline_io_bytes=max_inline_io_bytes,
                queue=queue if queue is not None else self.queue,
                interruptible=interruptible if interruptible is not None else self.interruptible,
                triggers=triggers,
                links=links,
                entrypoint=entrypoint,
                produces_artifacts=produces_artifacts,
            )
            self.tasks[t.__name__] = t
            return t

        if _func is not None:
            return decorate(_func)
        return decorate

    def clone_with(self, name: str, **kwargs: Any) -> TaskEnvironment:
        """A new environment with the same settings, a new name and some changes."""
        return replace(self, name=name, **kwargs)

    def add_dependency(self, *envs: TaskEnvironment) -> None:
        """Declare environments whose tasks this environment's tasks call."""
        self.depends_on.extend(envs)

    def __hash__(self) -> int:
        return hash(self.name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TaskEnvironment) and other.name == self.name
