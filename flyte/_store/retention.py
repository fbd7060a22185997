"""The retention policy of the config file, applied automatically at most once a day.

The config file is `$FLYTE_CONFIG`, else `./.flyte/config.toml`, else
`$FLYTE_HOME/config.toml`:

    [retention]
    older_than = "30d"        # delete runs created more than 30 days ago
    keep = 100                # ... but never the 100 newest
    failed_only = false       # true: only runs that did not succeed
    cache_older_than = "7d"   # and cache entries older than 7 days that no kept run reads
    auto = true               # apply it once a day after `flyte run` (default: true)

`flyte gc` with no options applies it on demand. Automatically, the CLI calls
`schedule_auto_gc` when a command ends: if the stamp file in `$FLYTE_HOME` is older than a
day it is touched at once (so concurrent commands do not all start one) and a detached
`python -m flyte._store.retention STORE` runs the gc in the background. The command that
triggered it does not wait, and each run appends one JSON line to `$FLYTE_HOME/gc.log`.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flyte._store import flyte_home
from flyte._store.upkeep import GcPolicy, parse_age
from flyte.errors import InvalidOptionError

__all__ = [
    "AUTO_INTERVAL",
    "Retention",
    "config_path",
    "load_retention",
    "run_auto_gc",
    "schedule_auto_gc",
    "stamp_path",
]

AUTO_INTERVAL = 86400.0
# The background gcs this process started. Each is polled at exit so one that finished is
# reaped (an unpolled Popen reports itself as leaked); one still running goes on alone.
_started: list[subprocess.Popen[bytes]] = []


@atexit.register
def _reap() -> None:
    for proc in _started:
        proc.poll()


_KEYS = {"older_than", "keep", "failed_only", "cache_older_than", "auto"}


@dataclass(frozen=True, kw_only=True)
class Retention:
    """The `[retention]` section: a gc policy and whether to apply it automatically."""

    policy: GcPolicy
    auto: bool = True
    source: str = ""


def config_path() -> Path:
    """The config file: `$FLYTE_CONFIG`, else `./.flyte/config.toml` if it exists, else
    `$FLYTE_HOME/config.toml` (the order `flyte.init_from_config` reads them in)."""
    configured = os.environ.get("FLYTE_CONFIG")
    if configured:
        return Path(configured).expanduser()
    project = Path(".flyte") / "config.toml"
    return project if project.is_file() else flyte_home() / "config.toml"


def load_retention(path: str | os.PathLike[str] | None = None) -> Retention | None:
    """The retention policy of the config file, or None when it has none.

    TOML, or JSON for a `.json` file; upstream's YAML config has no retention section.

    Raises:
        InvalidOptionError: the file or its `[retention]` section is malformed.
    """
    file = Path(path) if path is not None else config_path()
    if file.suffix in (".yaml", ".yml"):
        return None
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InvalidOptionError(f"cannot read the config file {file}: {exc}") from exc
    data = _parse(file, raw)
    section = data.get("retention")
    if section is None:
        return None
    if not isinstance(section, dict):
        raise InvalidOptionError(f"[retention] in {file} must be a table")
    unknown = sorted(set(section) - _KEYS)
    if unknown:
        raise InvalidOptionError(
            f"[retention] in {file} has unknown key(s) {', '.join(unknown)}; "
            f"valid keys: {', '.join(sorted(_KEYS))}"
        )
    try:
        policy = GcPolicy(
            older_than=_age(section.get("older_than")),
            keep=_int(section.get("keep"), "keep"),
            failed_only=_bool(section.get("failed_only", False), "failed_only"),
            cache_older_than=_age(section.get("cache_older_than")),
        )
        auto = _bool(section.get("auto", True), "auto")
    except InvalidOptionError as exc:
        raise InvalidOptionError(f"[retention] in {file}: {exc}") from None
    if policy.empty:
        raise InvalidOptionError(
            f"[retention] in {file} selects nothing; set older_than, keep, failed_only "
            "or cache_older_than"
        )
    return Retention(policy=policy, auto=auto, source=str(file))


def _parse(file: Path, raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
        if file.suffix == ".json":
            data = json.loads(text)
        else:
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover - Python 3.10
                import tomli as tomllib
            data = tomllib.loads(text)
    except ValueError as exc:  # TOMLDecodeError, JSONDecodeError, UnicodeDecodeError
        kind = "JSON" if file.suffix == ".json" else "TOML"
        raise InvalidOptionError(f"config file {file} is not valid {kind}: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidOptionError(f"config file {file} must hold a table of settings")
    return data


def _age(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidOptionError(f"{value!r} is not an age like 30d, 12h, 90m or 2w")
    return parse_age(value) if isinstance(value, str) else parse_age(f"{value}d")


def _int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidOptionError(f"{name} must be a whole number, got {value!r}")
    return value


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidOptionError(f"{name} must be true or false, got {value!r}")
    return value


def stamp_path(store_path: str) -> Path:
    """The file whose mtime says when `store_path` was last collected automatically."""
    digest = hashlib.sha1(os.path.abspath(store_path).encode()).hexdigest()[:12]
    return flyte_home() / f"last-gc-{digest}"


def schedule_auto_gc(store_path: str, *, now: float | None = None) -> bool:
    """Start a background gc of `store_path` if its policy says so and a day has passed.

    Cheap when nothing is due (a stat or two), and never raises: a broken config file
    must not fail the command that ran before this. Returns whether a gc was started.
    """
    if store_path in ("", ":memory:") or not os.path.isfile(store_path):
        return False
    try:
        retention = load_retention()
    except InvalidOptionError as exc:
        sys.stderr.write(f"flyte: automatic gc skipped: {exc}\n")
        return False
    if retention is None or not retention.auto:
        return False
    now = time.time() if now is None else now
    stamp = stamp_path(store_path)
    try:
        if now - stamp.stat().st_mtime < AUTO_INTERVAL:
            return False
    except FileNotFoundError:
        pass
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.touch()
        os.utime(stamp, (now, now))
        _started[:] = [p for p in _started if p.poll() is None]  # reap finished ones
        _started.append(
            subprocess.Popen(
                [sys.executable, "-m", "flyte._store.retention", os.path.abspath(store_path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
    except OSError as exc:
        sys.stderr.write(f"flyte: automatic gc skipped: {exc}\n")
        return False
    return True


def run_auto_gc(store_path: str) -> dict[str, Any]:
    """Apply the configured policy to `store_path` now; log and return what happened."""
    from flyte._store.sqlite import SqliteRunStore
    from flyte._store.upkeep import gc

    entry: dict[str, Any] = {"time": time.time(), "store": store_path}
    try:
        retention = load_retention()
        if retention is None:
            entry["skipped"] = "no [retention] in the config file"
        else:
            store = SqliteRunStore(store_path)
            try:
                report = gc(store, retention.policy)
            finally:
                store.close()
            entry.update(report.to_dict())
    except Exception as exc:  # recorded in gc.log: nobody watches this process
        entry["error"] = f"{type(exc).__name__}: {exc}"
    try:
        flyte_home().mkdir(parents=True, exist_ok=True)
        with open(flyte_home() / "gc.log", "a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")
    except OSError:
        pass
    return entry


if __name__ == "__main__":
    run_auto_gc(sys.argv[1])
