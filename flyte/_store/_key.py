"""The per-home secret that authenticates every exact (pickled) value in a run store.

A pickle runs code when it is loaded, and a store file is data that other people may
write (a shared FLYTE_HOME, a store someone sends). So every exact value carries a MAC
keyed by a secret that only this home's owner can read: `$FLYTE_HOME/store.key`, mode
0600, created on first use. A value written without the key is never unpickled.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from pathlib import Path

__all__ = ["KEY_FILE", "home_key"]

KEY_FILE = "store.key"
_KEY_BYTES = 32
_keys: dict[str, bytes] = {}
_lock = threading.Lock()
_log = logging.getLogger("flyte.store")


def home_key(home: Path) -> bytes:
    """The secret of `home` (created 0600 on first use; cached per home)."""
    cache_key = str(home)
    key = _keys.get(cache_key)
    if key is None:
        with _lock:
            key = _keys.get(cache_key)
            if key is None:
                key = _keys[cache_key] = _load_or_create(home)
    return key


def _load_or_create(home: Path) -> bytes:
    path = home / KEY_FILE
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        return _ephemeral(f"cannot read {path} ({exc.strerror or exc})")
    try:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Write a private temporary file, then link it into place: the link is atomic and
        # fails if another process created the key first, so readers never see half a key.
        tmp = home / f".{KEY_FILE}.{os.getpid()}.{threading.get_ident()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            # No fsync: a key lost in a crash only turns the values it sealed into misses.
            os.write(fd, os.urandom(_KEY_BYTES))
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
        return _read(path)
    except OSError as exc:
        # A home nobody can write to (read-only media): its store is read-only too and
        # holds nothing this process could have sealed, so there is nothing to warn about.
        return _ephemeral(f"cannot create {path} ({exc.strerror or exc})", quiet=True)


def _read(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"{path} is not a regular file")
        # A key that others can write (or that someone else owns) authenticates nothing.
        if info.st_mode & 0o022 or (hasattr(os, "getuid") and info.st_uid != os.getuid()):
            raise OSError(f"{path} is writable by others or not owned by you")
        data = os.read(fd, _KEY_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) != _KEY_BYTES:
        raise OSError(f"{path} is not a flyte store key")
    return data


def _ephemeral(reason: str, *, quiet: bool = False) -> bytes:
    # Values this process writes still verify in this process; older ones are misses.
    (_log.debug if quiet else _log.warning)(
        "flyte: %s; stored values are authenticated for this process only", reason
    )
    return os.urandom(_KEY_BYTES)
