"""Value types of `flyte.app` (upstream's names and checks): Port, Link, Scaling, ..."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flyte.errors import InvalidOptionError

__all__ = ["INVALID_APP_PORTS", "Domain", "Link", "Port", "Scaling", "Timeouts"]

INVALID_APP_PORTS = (8012, 8022, 8112, 9090, 9091)  # reserved on a Flyte cluster


@dataclass(frozen=True)
class Port:
    """The port an app listens on (`name` is the protocol hint a cluster uses, e.g. "h2c")."""

    port: int
    name: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.port, bool) or not isinstance(self.port, int):
            raise InvalidOptionError(f"port must be an int, got {self.port!r}")
        if self.port in INVALID_APP_PORTS:
            reserved = ", ".join(str(p) for p in INVALID_APP_PORTS)
            raise InvalidOptionError(
                f"port {self.port} is not allowed. Please do not use ports: {reserved}"
            )


@dataclass(frozen=True)
class Link:
    """A custom link shown with the app."""

    path: str
    title: str
    is_relative: bool = False


@dataclass
class Scaling:
    """Replicas and autoscaling of an app: `replicas=3` or `(min, max)`; default `(0, 1)`."""

    @dataclass(frozen=True)
    class Concurrency:
        """Scale up past `val` concurrent requests per replica."""

        val: int

        def __post_init__(self) -> None:
            if self.val < 1:
                raise InvalidOptionError("Concurrency must be greater than or equal to 1")

    @dataclass(frozen=True)
    class RequestRate:
        """Scale up past `val` requests per second per replica."""

        val: int

        def __post_init__(self) -> None:
            if self.val < 1:
                raise InvalidOptionError("Request rate must be greater than or equal to 1")

    replicas: int | tuple[int, int] = (0, 1)
    metric: Scaling.Concurrency | Scaling.RequestRate | None = None
    scaledown_after: int | timedelta | None = None

    def __post_init__(self) -> None:
        if isinstance(self.replicas, int) and not isinstance(self.replicas, bool):
            if self.replicas < 0:
                raise InvalidOptionError("replicas must be greater than or equal to 0")
            self.replicas = (self.replicas, self.replicas)
        elif isinstance(self.replicas, tuple):
            if len(self.replicas) != 2:
                raise InvalidOptionError("replicas tuple must be of length 2")
            low, high = self.replicas
            if low < 0:
                raise InvalidOptionError("min_replicas must be greater than or equal to 0")
            if high < 1 or high < low:
                raise InvalidOptionError(
                    "max_replicas must be greater than or equal to 1 and min_replicas"
                )
        else:
            raise InvalidOptionError("replicas must be an int or a tuple of two ints")
        if self.metric is not None and not isinstance(
            self.metric, Scaling.Concurrency | Scaling.RequestRate
        ):
            raise InvalidOptionError(
                "metric must be an instance of Scaling.Concurrency or Scaling.RequestRate"
            )
        if isinstance(self.scaledown_after, int):
            self.scaledown_after = timedelta(seconds=self.scaledown_after)
        elif self.scaledown_after is not None and not isinstance(self.scaledown_after, timedelta):
            raise InvalidOptionError("scaledown_after must be an int or a timedelta")

    def get_replicas(self) -> tuple[int, int]:
        replicas = self.replicas
        return (replicas, replicas) if isinstance(replicas, int) else replicas


@dataclass
class Timeouts:
    """Request timeout of an app (at most one hour)."""

    request: int | timedelta | None = None

    def __post_init__(self) -> None:
        if self.request is None:
            return
        if isinstance(self.request, int):
            self.request = timedelta(seconds=self.request)
        elif not isinstance(self.request, timedelta):
            raise InvalidOptionError(
                f"request timeout must be an int or a timedelta, got {self.request!r}"
            )
        if self.request < timedelta(0):
            raise InvalidOptionError("request timeout must be non-negative")
        if self.request > timedelta(hours=1):
            raise InvalidOptionError("request timeout must not exceed 1 hour (3600 seconds)")


@dataclass
class Domain:
    """The app's subdomain or custom domain on a cluster."""

    subdomain: str | None = None
    custom_domain: str | None = None
