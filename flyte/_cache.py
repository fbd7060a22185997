"""The `flyte.Cache` policy object and the composition of cache keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

from flyte.errors import InvalidOptionError

if TYPE_CHECKING:
    pass

__all__ = ["Cache", "CacheBehavior", "CachePolicy", "CacheRequest", "normalize_cache"]

CacheBehavior = Literal["auto", "override", "disable"]
_BEHAVIORS: tuple[str, ...] = get_args(CacheBehavior)
_ALIASES = {
    **{a: "auto" for a in ("enable", "enabled", "on", "true", "yes")},
    **{a: "disable" for a in ("disabled", "false", "no", "none", "off")},
}


class CachePolicy:
    """Upstream's extension point for custom version policies (accepted, not required)."""

    def get_version(self, salt: str, params: Any) -> str:  # pragma: no cover - protocol
        raise NotImplementedError


@dataclass(frozen=True)
class Cache:
    """How a task's results are cached.

    Example:
        @env.task(cache=flyte.Cache("auto", ignored_inputs=("verbose",), salt="v1"))
        def clean(df: list[int], verbose: bool = False) -> list[int]: ...

    Args:
        behavior: "auto" computes the code version from the task and the user code it
            reaches; "override" uses `version_override`; "disable" turns caching off.
        version_override: the version used with "override".
        serialize: accepted for upstream compatibility.
        ignored_inputs: input names left out of the key.
        salt: mixed into the key, to invalidate on purpose.
        policies: accepted for upstream compatibility.
    """

    behavior: CacheBehavior
    version_override: str | None = None
    serialize: bool = False
    ignored_inputs: tuple[str, ...] | str = field(default_factory=tuple)
    salt: str = ""
    policies: Any = None

    def __post_init__(self) -> None:
        behavior = self.behavior
        if isinstance(behavior, str) and behavior.lower() in _ALIASES:
            object.__setattr__(self, "behavior", _ALIASES[behavior.lower()])
        elif behavior not in _BEHAVIORS:
            raise InvalidOptionError(
                f"Invalid cache behavior: {behavior!r}. Must be one of {list(_BEHAVIORS)} "
                f"(aliases accepted: {sorted(_ALIASES)})"
            )
        if isinstance(self.ignored_inputs, str):
            object.__setattr__(self, "ignored_inputs", (self.ignored_inputs,))
        if self.behavior == "override" and not self.version_override:
            raise InvalidOptionError(
                "Cache(behavior='override') needs version_override='...'; "
                "use behavior='auto' to compute the version from the code"
            )

    @property
    def enabled(self) -> bool:
        return self.behavior != "disable"

    def to_dict(self) -> dict[str, Any]:
        return {
            "behavior": self.behavior,
            "version_override": self.version_override,
            "ignored_inputs": list(self.ignored_inputs),
            "salt": self.salt,
        }


def normalize_cache(value: Cache | str | bool | None) -> Cache:
    """Accept a Cache, one of "auto" / "override" / "disable", True / False, or None."""
    if value is None or value is False:
        return Cache("disable")
    if value is True:
        return Cache("auto")
    if isinstance(value, Cache):
        return value
    if isinstance(value, str):
        return Cache(value)  # type: ignore[arg-type]  # validated in __post_init__
    raise InvalidOptionError(
        f"cache must be flyte.Cache(...) or one of {', '.join(map(repr, _BEHAVIORS))}, "
        f"got {value!r}"
    )


CacheRequest = CacheBehavior | Cache
"""What `cache=` accepts: a behaviour ("auto", "override", "disable") or a `flyte.Cache`."""
