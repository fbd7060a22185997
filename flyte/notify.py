"""`flyte.notify`: notifications when a run reaches a phase (sent by a cluster).

Locally the objects are validated as upstream validates them and accepted by
`flyte.with_runcontext(notifications=...)` and `flyte.Trigger(notifications=...)`; nothing is
sent (a one-line note says so once).

Example:
    alert = flyte.notify.Slack(on_phase=ActionPhase.FAILED, webhook_url="https://hooks...")
    flyte.with_runcontext(notifications=(alert,)).run(main)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flyte.errors import InvalidOptionError

__all__ = ["Email", "NamedDelivery", "NamedRule", "Notification", "Slack", "Teams", "Webhook"]

_PHASES = ("queued", "running", "succeeded", "failed", "aborted", "timed_out")


def _phase_name(phase: Any) -> str:
    value = getattr(phase, "value", phase)
    return str(value).lower()


@dataclass(frozen=True, kw_only=True)
class NamedRule:
    """A notification rule configured on the cluster, by name."""

    name: str

    def __post_init__(self) -> None:
        if not self.name:
            raise InvalidOptionError("Rule name must not be empty")


@dataclass(frozen=True, kw_only=True)
class Notification:
    """Base of every notification: the phases that trigger it."""

    on_phase: Any

    def __post_init__(self) -> None:
        phases = self.on_phase if isinstance(self.on_phase, list | tuple) else (self.on_phase,)
        object.__setattr__(self, "on_phase", tuple(phases))
        if not phases:
            raise InvalidOptionError("At least one phase must be specified")
        for phase in phases:
            if _phase_name(phase) not in _PHASES:
                raise InvalidOptionError(
                    f"Notification on phase {phase!r} is not supported; use one of: "
                    + ", ".join(_PHASES)
                )


@dataclass(frozen=True, kw_only=True)
class NamedDelivery(Notification):
    """A delivery channel configured on the cluster, by name."""

    name: str

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.name:
            raise InvalidOptionError("Delivery config name must not be empty")


@dataclass(frozen=True, kw_only=True)
class Email(Notification):
    """An email to `recipients` (templated subject and body)."""

    recipients: tuple[str, ...]
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    subject: str = "Run {{.Run.Name}} {{.Phase}}"
    body: str = "Run {{.Run.Name}} is {{.Phase}}"
    html_body: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("recipients", "cc", "bcc"):
            value = getattr(self, name)
            value = (value,) if isinstance(value, str) else tuple(value)
            object.__setattr__(self, name, value)
            for address in value:
                if "@" not in address:
                    raise InvalidOptionError(f"{name}: {address!r} is not an email address")
        if not self.recipients:
            raise InvalidOptionError("At least one recipient must be specified")


def _check_url(url: str, what: str) -> None:
    if not url:
        raise InvalidOptionError(f"{what} is required")
    if not url.startswith(("http://", "https://")):
        raise InvalidOptionError(f"{what} must be an http(s) URL, got {url!r}")


@dataclass(frozen=True, kw_only=True)
class Slack(Notification):
    """A Slack message through an incoming webhook."""

    webhook_url: str
    message: str | None = None
    blocks: tuple[dict[str, Any], ...] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_url(self.webhook_url, "webhook_url")


@dataclass(frozen=True, kw_only=True)
class Teams(Notification):
    """A Microsoft Teams message through a webhook."""

    webhook_url: str
    title: str = "Run {{.Run.Name}} {{.Phase}}"
    message: str | None = None
    card: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_url(self.webhook_url, "webhook_url")


_METHODS = ("POST", "PUT", "PATCH", "GET", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT")


@dataclass(frozen=True, kw_only=True)
class Webhook(Notification):
    """An HTTP request to `url`."""

    url: str
    method: str = "POST"
    headers: dict[str, str] | None = None
    body: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_url(self.url, "url")
        if self.method not in _METHODS:
            raise InvalidOptionError(
                f"method must be one of {', '.join(_METHODS)}, got {self.method!r}"
            )


def check_notifications(value: Any) -> list[Notification | NamedRule]:
    """Validate `notifications=`: a notification, a rule, or a sequence of them.

    Raises:
        InvalidOptionError: something else was given.
    """
    items = value if isinstance(value, list | tuple) else (value,)
    for item in items:
        if not isinstance(item, Notification | NamedRule):
            raise InvalidOptionError(
                f"notifications must be flyte.notify.Email/Slack/Teams/Webhook/..., got {item!r}"
            )
    return list(items)
