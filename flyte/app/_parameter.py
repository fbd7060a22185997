"""App parameters: values an app reads at start (`flyte.app.get_parameter`, env vars)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Literal

from flyte.errors import InvalidOptionError

__all__ = ["AppEndpoint", "ArtifactValue", "Parameter", "RunOutput", "get_parameter"]

_PARAMETERS_ENV = "_FLYTE_APP_PARAMETERS"


@dataclass(frozen=True)
class RunOutput:
    """A parameter taken from a task run's output (resolved on a cluster)."""

    type: str = "string"
    run_name: str | None = None
    task_name: str | None = None
    task_version: str | None = None
    getter: tuple[Any, ...] = (0,)


@dataclass(frozen=True)
class ArtifactValue:
    """A parameter taken from a published artifact (resolved on a cluster)."""

    name: str
    version: str | None = None
    project: str | None = None
    domain: str | None = None


@dataclass(frozen=True)
class AppEndpoint:
    """A parameter holding another app's endpoint."""

    app_name: str
    public: bool = False
    type: Literal["string"] = "string"


@dataclass
class Parameter:
    """A named value an app gets at start: `get_parameter(name)`, and `env_var` if given.

    Example:
        flyte.app.AppEnvironment(name="ui", parameters=[
            flyte.app.Parameter(name="greeting", value="hello", env_var="GREETING")])
    """

    name: str
    value: Any = None
    type: Literal["string", "file", "directory", "app_endpoint"] | None = None
    env_var: str | None = None
    download: bool = True
    mount: str | None = None
    ignore_patterns: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidOptionError(f"a parameter needs a name, got {self.name!r}")
        if self.env_var is not None and not self.env_var.replace("_", "").isalnum():
            raise InvalidOptionError(
                f"env_var must be an environment variable name, got {self.env_var!r}"
            )


def local_value(parameter: Parameter, override: Any = None) -> str | None:
    """The value a locally served app gets for `parameter` (files and dirs as local paths)."""
    value = parameter.value if override is None else override
    if value is None or isinstance(value, RunOutput | ArtifactValue):
        return None  # only a cluster resolves these
    if isinstance(value, AppEndpoint):
        return None
    path = getattr(value, "path", None)
    if isinstance(path, str):  # flyte.io.File / Dir
        return path
    return value if isinstance(value, str) else str(value)


def publish(values: dict[str, str]) -> None:
    """Make `values` what `get_parameter` returns in this process and the app's children."""
    os.environ[_PARAMETERS_ENV] = json.dumps(values)


def get_parameter(name: str) -> str:
    """The value of the app parameter `name`.

    Raises:
        InvalidOptionError: no such parameter was given to the app.
    """
    values = json.loads(os.environ.get(_PARAMETERS_ENV) or "{}")
    if name not in values:
        known = ", ".join(sorted(values)) or "none"
        raise InvalidOptionError(f"the app has no parameter {name!r} (it has: {known})")
    return str(values[name])
