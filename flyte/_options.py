"""Value objects for task options: resources, retries, timeouts, reuse, images and secrets.

Each validates in `__post_init__` and lists the valid values in its message, so a typo
fails at decoration time, not in the middle of a run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from flyte._devices import Device, parse_accelerator
from flyte.errors import InvalidOptionError

__all__ = [
    "Backoff",
    "Image",
    "Resources",
    "RetryStrategy",
    "ReusePolicy",
    "Secret",
    "SecretRequest",
    "Timeout",
    "TimeoutType",
    "normalize_retries",
    "normalize_timeout",
    "parse_memory",
]

_MEMORY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(Ki|Mi|Gi|Ti|K|M|G|T|k|)\s*$")
_MEMORY_UNITS = {
    "": 1,
    "k": 1000,
    "K": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "T": 1000**4,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
}
_CPU_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)(m?)\s*$")


def parse_memory(value: str | int, *, what: str = "memory") -> int:
    """Parse a Kubernetes-style memory quantity ("500Mi", "2Gi", "1G", 1024) into bytes.

    Raises:
        InvalidOptionError: the string is not a quantity; the message lists the units.
    """
    if isinstance(value, bool):
        raise InvalidOptionError(f"{what} must be a quantity like '512Mi' or '2Gi', got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise InvalidOptionError(f"{what} must not be negative, got {value}")
        return value
    match = _MEMORY_RE.match(str(value))
    if not match:
        raise InvalidOptionError(
            f"{what} {value!r} is not a valid quantity; use a number with one of the units "
            "Ki, Mi, Gi, Ti, K, M, G, T (e.g. '512Mi', '2Gi')"
        )
    return int(float(match.group(1)) * _MEMORY_UNITS[match.group(2)])


def _parse_cpu(value: Any) -> float:
    if isinstance(value, bool):
        raise InvalidOptionError(f"cpu must be a number or a string like '500m', got {value!r}")
    if isinstance(value, int | float):
        if value <= 0:
            raise InvalidOptionError(f"cpu must be positive, got {value}")
        return float(value)
    match = _CPU_RE.match(str(value))
    if not match:
        raise InvalidOptionError(
            f"cpu {value!r} is not valid; use a number (1, 0.5) or millicores ('500m')"
        )
    number = float(match.group(1))
    return number / 1000 if match.group(2) else number


@dataclass(frozen=True, kw_only=True)
class Resources:
    """Resources a task asks for; recorded on every action, enforced by process workers.

    Example:
        env = flyte.TaskEnvironment("train", resources=flyte.Resources(cpu=2, memory="4Gi"))
        big = train.override(resources=flyte.Resources(memory="16Gi"))
    """

    cpu: int | float | str | tuple[Any, Any] | None = None
    memory: str | int | tuple[Any, Any] | None = None
    gpu: int | str | Device | None = None
    disk: str | int | None = None
    shm: str | int | None = None

    def __post_init__(self) -> None:
        for lo_hi, parse in ((self.cpu, _parse_cpu), (self.memory, parse_memory)):
            if lo_hi is None:
                continue
            values: tuple[Any, ...] = lo_hi if isinstance(lo_hi, tuple) else (lo_hi,)
            for v in values:
                parse(v)  # type: ignore[operator]
        if self.disk is not None:
            parse_memory(self.disk, what="disk")
        if self.shm is not None and self.shm != "auto":
            parse_memory(self.shm, what="shm")
        if self.gpu is not None and not (type(self.gpu) is int and self.gpu == 0):
            parse_accelerator(self.gpu)

    def get_device(self) -> Device | None:
        """The accelerator asked for, as a flyte.Device (None for no GPU)."""
        if self.gpu is None or (type(self.gpu) is int and self.gpu == 0):
            return None
        return parse_accelerator(self.gpu)

    @property
    def memory_bytes(self) -> int | None:
        """The memory limit in bytes (the upper bound of a range), or None."""
        if self.memory is None:
            return None
        value = self.memory[-1] if isinstance(self.memory, tuple) else self.memory
        return parse_memory(value)

    def to_dict(self) -> dict[str, Any]:
        return {
            k: str(v) if isinstance(v, Device) else v
            for k, v in self.__dict__.items()
            if v is not None
        }


@dataclass(frozen=True, kw_only=True)
class ReusePolicy:
    """Keep warm workers for an environment (enforced by process workers)."""

    replicas: int | tuple[int, int] = 2
    idle_ttl: int | timedelta | None = None
    concurrency: int = 1
    scaledown_ttl: int | timedelta | None = None

    def __post_init__(self) -> None:
        reps = self.replicas if isinstance(self.replicas, tuple) else (self.replicas,)
        if any(not isinstance(r, int) or r < 1 for r in reps):
            raise InvalidOptionError(
                f"replicas must be a positive int or (min, max), got {self.replicas!r}"
            )
        if self.concurrency < 1:
            raise InvalidOptionError(f"concurrency must be >= 1, got {self.concurrency}")

    def to_dict(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, timedelta) else v for k, v in self.__dict__.items()}


@dataclass(frozen=True, kw_only=True)
class Backoff:
    """Exponential backoff between retries: base * factor**n seconds, at most `cap`."""

    base: float | timedelta = 0.0
    factor: float = 2.0
    cap: float | timedelta = 60.0

    def __post_init__(self) -> None:
        for name in ("base", "cap"):
            value = getattr(self, name)
            if isinstance(value, timedelta):
                object.__setattr__(self, name, value.total_seconds())
        if self.base < 0 or self.factor < 1 or self.cap < 0:  # type: ignore[operator]
            raise InvalidOptionError(
                "Backoff needs base >= 0, factor >= 1 and cap >= 0, "
                f"got base={self.base}, factor={self.factor}, cap={self.cap}"
            )

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1-based)."""
        base, cap = float(self.base), float(self.cap)  # type: ignore[arg-type]  # seconds since __post_init__
        return min(cap, base * self.factor ** (retry - 1))


@dataclass(frozen=True)
class RetryStrategy:
    """How many times to retry a failed action, and how long to wait between tries."""

    count: int
    backoff: Backoff | float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 0:
            raise InvalidOptionError(f"retries must be a non-negative int, got {self.count!r}")

    def delay(self, retry: int) -> float:
        if self.backoff is None:
            return 0.0
        if isinstance(self.backoff, Backoff):
            return self.backoff.delay(retry)
        return float(self.backoff)


def _seconds(value: timedelta | int | float | None, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | timedelta):
        raise InvalidOptionError(f"{what} must be seconds or a timedelta, got {value!r}")
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 0:
        raise InvalidOptionError(f"{what} must be positive (or 0 for no limit), got {value!r}")
    return seconds or None  # 0 means unlimited, as upstream


@dataclass(frozen=True)
class Timeout:
    """Time bounds of an action, enforced locally.

    `max_runtime` bounds each attempt's running time; `deadline` bounds the action from
    its start across all attempts; `max_queued_time` bounds the wait before an attempt
    starts (only process workers queue). `None` or 0 means unlimited.

    Example:
        @env.task(timeout=flyte.Timeout(max_runtime=timedelta(minutes=5), deadline=600))
        def fetch(url: str) -> str: ...
    """

    max_runtime: timedelta | int | float | None = None
    max_queued_time: timedelta | int | float | None = None
    deadline: timedelta | int | float | None = None

    def __post_init__(self) -> None:
        _seconds(self.max_runtime, "max_runtime")
        _seconds(self.max_queued_time, "max_queued_time")
        _seconds(self.deadline, "deadline")

    @property
    def seconds(self) -> float | None:
        """The per-attempt limit in seconds (max_runtime), or None."""
        return _seconds(self.max_runtime, "max_runtime")

    @property
    def deadline_seconds(self) -> float | None:
        return _seconds(self.deadline, "deadline")

    @property
    def queued_seconds(self) -> float | None:
        return _seconds(self.max_queued_time, "max_queued_time")

    def to_dict(self) -> dict[str, float | None]:
        return {
            "max_runtime": self.seconds,
            "max_queued_time": self.queued_seconds,
            "deadline": self.deadline_seconds,
        }


TimeoutType = Timeout | int | timedelta
"""What `timeout=` accepts: a Timeout, seconds or a timedelta."""


def normalize_retries(value: int | RetryStrategy | None) -> RetryStrategy:
    """Accept an int or a RetryStrategy (or None) and return a RetryStrategy."""
    if value is None:
        return RetryStrategy(0)
    if isinstance(value, RetryStrategy):
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidOptionError(f"retries must be an int or flyte.RetryStrategy, got {value!r}")
    return RetryStrategy(value)


def normalize_timeout(value: Timeout | timedelta | int | float | None) -> Timeout | None:
    """Accept seconds, a timedelta or a Timeout (or None) and return a Timeout or None."""
    if value is None:
        return None
    if isinstance(value, Timeout):
        limits = (value.seconds, value.deadline_seconds, value.queued_seconds)
        return value if any(v is not None for v in limits) else None
    if isinstance(value, bool) or not isinstance(value, int | float | timedelta):
        raise InvalidOptionError(
            f"timeout must be seconds, a timedelta or flyte.Timeout, got {value!r}"
        )
    if _seconds(value, "timeout") is None:
        return None  # timeout=0 is upstream's default: unlimited
    return Timeout(value)


@dataclass(frozen=True)
class Secret:
    """A secret made available to a task, by default as an environment variable.

    Locally the value is read from the environment variable `FLYTE_SECRET_<KEY>` (or `key`
    itself) of the driving process and exposed as `as_env_var` inside the task.
    """

    key: str
    group: str | None = None
    mount: str | None = None
    as_env_var: str | None = None

    def __post_init__(self) -> None:
        if not self.key or not re.match(r"^[\w.-]+$", self.key):
            raise InvalidOptionError(
                f"secret key {self.key!r} is not valid; use letters, digits, '_', '-', '.'"
            )
        if self.as_env_var is not None and not re.match(r"^[A-Za-z_]\w*$", self.as_env_var):
            raise InvalidOptionError(f"as_env_var {self.as_env_var!r} is not an env var name")

    @property
    def env_var(self) -> str:
        return self.as_env_var or re.sub(r"\W", "_", self.key).upper()


@dataclass(frozen=True, kw_only=True)
class Image:
    """A container image spec; builder methods record layers (used by remote backends).

    Example:
        image = flyte.Image.from_debian_base(python_version=(3, 12)).with_pip_packages("numpy")
    """

    base: str = "debian"
    python_version: tuple[int, int] | None = None
    name: str | None = None
    layers: tuple[tuple[str, tuple[Any, ...]], ...] = field(default_factory=tuple)

    @classmethod
    def from_debian_base(
        cls,
        *,
        python_version: tuple[int, int] | None = None,
        flyte_version: str | None = None,
        install_flyte: bool = True,
        registry: str | None = None,
        name: str | None = None,
        platform: tuple[str, ...] | None = None,
    ) -> Image:
        return cls(base="debian", python_version=python_version, name=name)

    @classmethod
    def from_base(cls, image_uri: str) -> Image:
        return cls(base=image_uri)

    @classmethod
    def from_uv_script(cls, script: str, *, name: str | None = None, **kwargs: Any) -> Image:
        return cls(base="uv-script", name=name, layers=(("uv_script", (str(script),)),))

    @classmethod
    def from_dockerfile(
        cls, file: str, registry: str | None = None, name: str | None = None
    ) -> Image:
        return cls(base="dockerfile", name=name, layers=(("dockerfile", (str(file),)),))

    @classmethod
    def from_ref_name(cls, name: str = "default") -> Image:
        """An image named in the cluster's config (recorded locally)."""
        return cls(base=f"ref:{name}", name=name)

    @classmethod
    def from_pixi_script(cls, script: str, *, name: str | None = None, **kwargs: Any) -> Image:
        return cls(base="pixi-script", name=name, layers=(("pixi_script", (str(script),)),))

    def clone(
        self,
        registry: str | None = None,
        registry_secret: Any = None,
        name: str | None = None,
        base_image: str | None = None,
        python_version: tuple[int, int] | None = None,
        addl_layer: Any = None,
        **kwargs: Any,
    ) -> Image:
        """A copy with a new name, base or python version (layers are kept)."""
        new = replace(
            self,
            name=name if name is not None else self.name,
            base=base_image if base_image is not None else self.base,
            python_version=python_version if python_version is not None else self.python_version,
        )
        return new._with("layer", str(addl_layer)) if addl_layer is not None else new

    @property
    def uri(self) -> str:
        """A name for the image; locally nothing is built or pushed."""
        return f"{self.name or self.base}:local"

    def validate(self) -> None:
        """Upstream checks the spec before a build; locally every spec is accepted."""

    def _with(self, kind: str, *args: Any) -> Image:
        return replace(self, layers=(*self.layers, (kind, args)))

    def with_pip_packages(self, *packages: str, **kwargs: Any) -> Image:
        return self._with("pip", *packages)

    def with_apt_packages(self, *packages: str, **kwargs: Any) -> Image:
        return self._with("apt", *packages)

    def with_requirements(self, file: str, **kwargs: Any) -> Image:
        return self._with("requirements", str(file))

    def with_uv_project(self, pyproject_file: str, **kwargs: Any) -> Image:
        return self._with("uv_project", str(pyproject_file))

    def with_env_vars(self, env_vars: dict[str, str]) -> Image:
        return self._with("env", tuple(sorted(env_vars.items())))

    def with_commands(self, commands: list[str], **kwargs: Any) -> Image:
        return self._with("commands", *commands)

    def with_source_folder(self, src: str, dst: str = ".") -> Image:
        return self._with("source_folder", str(src), dst)

    def with_source_file(self, src: str, dst: str = ".") -> Image:
        return self._with("source_file", str(src), dst)

    def with_workdir(self, workdir: str) -> Image:
        return self._with("workdir", workdir)

    def with_local_v2(self) -> Image:
        return self._with("local_v2")

    def with_dockerignore(self, path: str) -> Image:
        return self._with("dockerignore", str(path))

    def with_code_bundle(self, copy_style: str = "loaded_modules", dst: str = ".") -> Image:
        return self._with("code_bundle", copy_style, dst)

    def with_poetry_project(self, pyproject_file: str, **kwargs: Any) -> Image:
        return self._with("poetry_project", str(pyproject_file))

    def with_pixi_project(self, pyproject_file: str | None = None, **kwargs: Any) -> Image:
        return self._with("pixi_project", str(pyproject_file or "pixi.toml"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "python_version": self.python_version,
            "name": self.name,
            "layers": [[k, list(map(str, a))] for k, a in self.layers],
        }


SecretRequest = str | Secret | list[str | Secret]
"""What `secrets=` accepts: a key, a Secret, or a list of them."""
