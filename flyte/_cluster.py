"""Names that only mean something on a Flyte cluster: triggers, pod templates, links, docs.

Locally they are accepted, validated as upstream validates them and recorded on every
action of the task that uses them; `note()` says once per process that a setting has no
local effect, so a program written for a cluster runs here unchanged and says so.
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from flyte.errors import InvalidOptionError

__all__ = [
    "Cron",
    "Documentation",
    "Environment",
    "FixedRate",
    "Link",
    "OnArtifact",
    "PodTemplate",
    "Trigger",
    "TriggerTime",
    "TriggeredArtifact",
    "describe",
    "note",
]

_noted: set[str] = set()
_noted_lock = threading.Lock()


def note(what: str, why: str = "it has no local effect") -> None:
    """Print one line, once per process, saying a cluster-only setting is only recorded."""
    with _noted_lock:
        if what in _noted:
            return
        _noted.add(what)
    print(f"flyte: note: {what} is recorded; {why}", file=sys.__stderr__)


class _Sentinel:
    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return f"flyte.{self._name}"


TriggerTime: Any = _Sentinel("TriggerTime")
"""Bind the time a trigger fired to a task input (a cluster schedule feature)."""

TriggeredArtifact: Any = _Sentinel("TriggeredArtifact")
"""Bind the artifact that fired an artifact trigger to a task input."""

_CRON_FIELD = re.compile(r"^[\d*/,\-A-Za-z?LW#]+$")
_CRON_ALIASES = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@hourly", "@midnight"}


@dataclass(frozen=True)
class Cron:
    """A cron schedule (`"0 * * * *"`) for a Trigger; runs only on a cluster."""

    expression: str
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        expr = self.expression.strip() if isinstance(self.expression, str) else ""
        parts = expr.split()
        if expr not in _CRON_ALIASES and (
            len(parts) not in (5, 6) or not all(_CRON_FIELD.match(p) for p in parts)
        ):
            raise InvalidOptionError(
                f"cron expression {self.expression!r} is not valid; use five fields "
                "'minute hour day month weekday' (e.g. '0 * * * *') or @hourly/@daily/..."
            )

    def __str__(self) -> str:
        return f"Cron({self.expression!r}, {self.timezone})"


@dataclass(frozen=True)
class FixedRate:
    """Fire every `interval_minutes` minutes (a Trigger schedule; cluster only)."""

    interval_minutes: int
    start_time: datetime | None = None

    def __post_init__(self) -> None:
        if isinstance(self.interval_minutes, bool) or not isinstance(self.interval_minutes, int):
            raise InvalidOptionError(
                f"interval_minutes must be an int, got {self.interval_minutes!r}"
            )
        if self.interval_minutes < 1:
            raise InvalidOptionError(
                f"interval_minutes must be at least 1, got {self.interval_minutes}"
            )

    def __str__(self) -> str:
        return f"FixedRate({self.interval_minutes} min)"


@dataclass(frozen=True)
class OnArtifact:
    """Fire when a new version of the named artifact appears (cluster only)."""

    name: str
    version: str | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise InvalidOptionError("OnArtifact needs an artifact name")


@dataclass(frozen=True)
class Trigger:
    """A schedule that starts runs of a task on a cluster; recorded locally.

    Example:
        @env.task(triggers=flyte.Trigger("hourly", flyte.Cron("0 * * * *")))
        def report(at: datetime) -> str: ...
    """

    name: str
    automation: Cron | FixedRate | OnArtifact
    description: str = ""
    auto_activate: bool = True
    inputs: dict[str, Any] | None = None
    env_vars: dict[str, str] | None = None
    interruptible: bool | None = None
    overwrite_cache: bool = False
    queue: str | None = None
    max_action_concurrency: int | None = None
    labels: Mapping[str, str] | None = None
    annotations: Mapping[str, str] | None = None
    notifications: Any = None
    custom_context: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise InvalidOptionError("Trigger name cannot be empty")
        if not isinstance(self.automation, Cron | FixedRate | OnArtifact):
            raise InvalidOptionError(
                f"Trigger {self.name!r}: automation must be flyte.Cron(...), "
                f"flyte.FixedRate(...) or flyte.OnArtifact(...), got {self.automation!r}"
            )
        inputs = self.inputs or {}
        bound = [k for k, v in inputs.items() if v is TriggeredArtifact]
        if len(bound) > 1 or (bound and not isinstance(self.automation, OnArtifact)):
            raise InvalidOptionError(
                f"Trigger {self.name!r}: TriggeredArtifact binds one input of an OnArtifact trigger"
            )
        if self.max_action_concurrency is not None and (
            self.max_action_concurrency < 0 or self.max_action_concurrency == 1
        ):
            raise InvalidOptionError(
                "max_action_concurrency must be 0 (platform default) or at least 2, "
                f"got {self.max_action_concurrency}"
            )

    @classmethod
    def _every(cls, expr: str, key: str | None, name: str, **kwargs: Any) -> Trigger:
        inputs = {key: TriggerTime} if key else {}
        inputs.update(kwargs.pop("inputs", None) or {})
        return cls(name=name, automation=Cron(expr), inputs=inputs, **kwargs)

    @classmethod
    def minutely(cls, trigger_time_input_key: str | None = None, **kwargs: Any) -> Trigger:
        """A trigger firing every minute."""
        return cls._every(
            "* * * * *", trigger_time_input_key, kwargs.pop("name", "minutely"), **kwargs
        )

    @classmethod
    def hourly(cls, trigger_time_input_key: str | None = None, **kwargs: Any) -> Trigger:
        """A trigger firing at the start of every hour."""
        return cls._every(
            "0 * * * *", trigger_time_input_key, kwargs.pop("name", "hourly"), **kwargs
        )

    @classmethod
    def daily(cls, trigger_time_input_key: str | None = None, **kwargs: Any) -> Trigger:
        """A trigger firing daily at midnight."""
        return cls._every(
            "0 0 * * *", trigger_time_input_key, kwargs.pop("name", "daily"), **kwargs
        )

    @classmethod
    def weekly(cls, trigger_time_input_key: str | None = None, **kwargs: Any) -> Trigger:
        """A trigger firing every Sunday at midnight."""
        return cls._every(
            "0 0 * * 0", trigger_time_input_key, kwargs.pop("name", "weekly"), **kwargs
        )

    @classmethod
    def monthly(cls, trigger_time_input_key: str | None = None, **kwargs: Any) -> Trigger:
        """A trigger firing on the first of every month at midnight."""
        return cls._every(
            "0 0 1 * *", trigger_time_input_key, kwargs.pop("name", "monthly"), **kwargs
        )

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "automation": str(self.automation)}


@dataclass
class PodTemplate:
    """A Kubernetes pod template for a task (cluster only; recorded locally)."""

    pod_spec: Any = None
    primary_container_name: str = "primary"
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None

    termination_grace_period: int | None = None

    def __post_init__(self) -> None:
        if not self.primary_container_name:
            raise InvalidOptionError("PodTemplate needs a primary_container_name")

    def with_termination_grace_period(self, period: int | timedelta) -> PodTemplate:
        """A copy whose pods get `period` (seconds or a timedelta) to stop after an abort."""
        seconds = period.total_seconds() if isinstance(period, timedelta) else period
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise InvalidOptionError(
                f"termination grace period must be seconds >= 0 or a timedelta, got {period!r}"
            )
        from dataclasses import replace

        return replace(self, termination_grace_period=int(seconds))


class Link(Protocol):
    """A log link shown for an action in the cluster UI (recorded locally)."""

    name: str

    def get_link(
        self,
        run_name: str,
        project: str,
        domain: str,
        context: dict[str, str],
        parent_action_name: str,
        action_name: str,
        pod_name: str,
        **kwargs: Any,
    ) -> str: ...


@dataclass
class Documentation:
    """Task documentation (`@env.task(docs=...)`): a short and a long description."""

    short_description: str | None = None
    long_description: str | None = None
    source_code: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class Environment:
    """Upstream's base class of environments; use `flyte.TaskEnvironment` to define tasks."""

    name: str
    depends_on: list[Any] = field(default_factory=list)
    description: str | None = None


def describe(value: Any) -> Any:
    """A JSON-able record of a cluster-only setting, for an action's settings."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [describe(v) for v in value]
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    phases = getattr(value, "on_phase", None)
    if isinstance(phases, tuple):  # a notification: its kind and phases, never its URLs
        names = ",".join(str(getattr(p, "value", p)).lower() for p in phases)
        return f"{type(value).__name__}(on_phase={names})"
    name = getattr(value, "name", None)
    return f"{type(value).__name__}({name})" if isinstance(name, str) else type(value).__name__
