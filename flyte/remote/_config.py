"""The config file of `flyte.init_from_config()`: which server (or store) to use.

TOML or JSON, keys at the top level or under `[flyte]`; upstream's YAML `config.yaml`
is read for its `endpoint` (under `admin:`) and `api_key` lines. Programs written for
upstream Flyte pass their cluster's config: a missing file, or an endpoint of an
upstream cluster (`dns:///...`), means local, so they run unchanged.

    # .flyte/config.toml
    endpoint = "http://flyte.internal:8090"
    api_key = "..."                     # or leave it to $FLYTE_API_KEY
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from flyte.errors import UserError

__all__ = ["config_path", "read_config"]

_KEYS = ("endpoint", "api_key", "store", "root_dir")


def config_path(path: str | os.PathLike[str] | None = None) -> Path | None:
    """The config file to read: `path`, `$FLYTE_CONFIG`, `./.flyte/config.toml` or
    `$FLYTE_HOME/config.toml` (the first that is given or exists)."""
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get("FLYTE_CONFIG")
    if env:
        return Path(env).expanduser()
    from flyte._store import flyte_home

    for candidate in (Path(".flyte") / "config.toml", flyte_home() / "config.toml"):
        if candidate.is_file():
            return candidate
    return None


def _yaml_subset(text: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for raw in text.splitlines():
        key, sep, value = raw.strip().partition(":")
        value = value.strip().strip("'\"")
        if sep and key in ("endpoint", "api_key", "store") and value:
            found[key] = value
    return found


def read_config(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The `flyte.init` arguments a config file sets ({} when there is none).

    Raises:
        UserError: the file cannot be parsed.
    """
    target = config_path(path)
    if target is None or not target.is_file():
        return {}
    text = target.read_text(encoding="utf-8")
    data: Any
    try:
        if target.suffix == ".json":
            data = json.loads(text)
        elif target.suffix in (".yaml", ".yml"):
            data = _yaml_subset(text)
        else:
            import tomllib

            data = tomllib.loads(text)
    except (ValueError, ImportError) as exc:
        raise UserError(f"config file {target} cannot be read: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("flyte"), dict):
        data = data["flyte"]
    if not isinstance(data, dict):
        raise UserError(f"config file {target} must hold a table of settings")
    settings = {k: data[k] for k in _KEYS if data.get(k) is not None}
    endpoint = settings.get("endpoint")
    if isinstance(endpoint, str) and not endpoint.startswith(("http://", "https://")):
        del settings["endpoint"]  # an upstream cluster (dns:///...): run locally
        settings.pop("api_key", None)
    return settings
