"""Upstream's module-level functions with their `.aio` twins, and the small ones around init.

`flyte.init`, `init_from_config`, `deploy`, `rerun`, ... are the functions of `_run` and
`_deploy`, callable plainly or as `await flyte.init_from_config.aio()`. The cluster-only
initialisers (`init_in_cluster`, `init_from_api_key`, `init_passthrough`) initialise
locally, and images are never built here: `build` records the spec and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flyte import _deploy, _run
from flyte._aio import twin
from flyte._config import current

if TYPE_CHECKING:
    from flyte._options import Image

__all__ = [
    "ImageBuild",
    "build",
    "build_images",
    "current_domain",
    "current_project",
    "deploy",
    "get_custom_context",
    "init",
    "init_from_api_key",
    "init_from_config",
    "init_in_cluster",
    "init_passthrough",
    "is_control_plane_available",
    "rerun",
    "version",
]

init = twin(_run.init)
init_from_config = twin(_run.init_from_config)
deploy = twin(_deploy.deploy, blocking=True)
rerun = twin(_run.rerun, blocking=True)


def _init_local(**kwargs: Any) -> None:
    _run.init(**{k: kwargs[k] for k in ("project", "domain", "org", "root_dir") if k in kwargs})


def _init_in_cluster(**kwargs: Any) -> None:
    """Upstream's in-cluster initialisation; outside a cluster, the local init."""
    _init_local(**kwargs)


def _init_from_api_key(api_key: str | None = None, **kwargs: Any) -> None:
    """Upstream's API-key initialisation; with no server configured, the local init."""
    _init_local(**kwargs)


def _init_passthrough(**kwargs: Any) -> None:
    """Upstream's pass-through initialisation (apps); locally, the local init."""
    _init_local(**kwargs)


init_in_cluster = twin(_init_in_cluster)
init_from_api_key = twin(_init_from_api_key)
init_passthrough = twin(_init_passthrough)


def current_project() -> str:
    """The project given to `flyte.init` ("local" when none was)."""
    return current().project or "local"


def current_domain() -> str:
    """The domain given to `flyte.init` ("development" when none was)."""
    return current().domain or "development"


def is_control_plane_available() -> bool:
    """Whether a server is configured (`flyte.init(endpoint=...)`)."""
    return bool(current().endpoint)


def get_custom_context() -> dict[str, str]:
    """The custom context set by the enclosing `flyte.custom_context(...)` blocks."""
    from flyte._map import custom_context_var

    return dict(custom_context_var.get() or {})


def version() -> str:
    """The flyte-local version."""
    from flyte import __version__

    return __version__


@dataclass(frozen=True)
class ImageBuild:
    """The result of `flyte.build`: the image's name (nothing is built locally)."""

    uri: str
    remote_run: Any = None


def _build(
    image: Image | str, dry_run: bool = False, force: bool = False, wait: bool = True
) -> ImageBuild:
    """Record an image spec; local runs use this Python environment, so nothing is built."""
    from flyte._cluster import note
    from flyte._options import Image

    if not isinstance(image, Image | str):
        raise TypeError(f"flyte.build needs a flyte.Image or an image name, got {image!r}")
    note("flyte.build", "local runs use this Python environment, so no image is built")
    return ImageBuild(uri=image if isinstance(image, str) else image.uri)


def _build_images(*envs: Any, **kwargs: Any) -> dict[str, str]:
    """The image of each environment, by environment name (nothing is built locally)."""
    out = {}
    for env in envs:
        image = getattr(env, "image", "auto")
        out[env.name] = image if isinstance(image, str) else _build(image).uri
    return out


build = twin(_build)
build_images = twin(_build_images)
