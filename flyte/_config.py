"""The process's flyte configuration: one frozen object, replaced (never mutated) by `init`.

Precedence: arguments of `flyte.init(...)` > environment variables (`FLYTE_STORE`,
`FLYTE_ENDPOINT`, `FLYTE_API_KEY`, `FLYTE_EXECUTOR`) > defaults. Environment variables are
read when a value is needed, not at import, so `import flyte` stays free of side effects.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["Config", "current", "executor_spec", "replace_config", "reset", "server_endpoint"]


@dataclass(frozen=True, kw_only=True)
class Config:
    """What `flyte.init` chose: where runs are stored, who drives them, where bodies run.

    Example:
        flyte.init(store="memory", executor="process")
        assert flyte._config.current().executor == "process"
    """

    store: Any = None
    """A RunStore object, or None for `$FLYTE_STORE` / `$FLYTE_HOME/runs.db`."""
    store_url: str | None = None
    """The URL or path the store was opened from, when `init` was given one."""
    endpoint: str | None = None
    """A flyte-local server (`flyte serve`); None runs everything in this process."""
    api_key: str | None = None
    executor: Any = None
    """"inline", "process", "dask", "dask://HOST:PORT", a Dask client, or None (`FLYTE_EXECUTOR`)."""
    project: str | None = None
    domain: str | None = None
    org: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


_lock = threading.Lock()
_current = Config()


def current() -> Config:
    """The configuration in effect (a frozen object: read it, never mutate it)."""
    return _current


def replace_config(**changes: Any) -> Config:
    """Install a copy of the current configuration with `changes` applied."""
    global _current
    with _lock:
        _current = replace(_current, **changes)
        return _current


def reset() -> None:
    """Back to the defaults (tests call this between cases)."""
    global _current
    with _lock:
        _current = Config()


def server_endpoint() -> str | None:
    """The server runs go to, as configured (not yet normalized); None runs them here.

    `flyte.init(endpoint=...)` wins; `flyte.init(store=...)` without an endpoint means
    local even when `$FLYTE_ENDPOINT` is set; otherwise `$FLYTE_ENDPOINT`.
    """
    config = _current
    endpoint = config.endpoint
    if endpoint is None:
        if config.store is not None:
            return None
        endpoint = os.environ.get("FLYTE_ENDPOINT")
    return endpoint or None


def executor_spec() -> Any:
    """The executor asked for: `flyte.init(executor=...)`, else `$FLYTE_EXECUTOR`, else None."""
    chosen = _current.executor
    if chosen is None:
        chosen = os.environ.get("FLYTE_EXECUTOR") or None
    return chosen
