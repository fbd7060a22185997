"""Large exact values live in content-addressed files under `$FLYTE_HOME/blobs/`.

SQLite refuses values over its length limit (1 GB by default) and a big value in a row
bloats the write-ahead log that every reader replays. A value over `OFFLOAD_BYTES` is
written once to `blobs/<sha256>` (0600, fsync'd, renamed into place before the row that
refers to it commits) and the row keeps a short reference. Reading resolves it; the
value inside is still the sealed form, so `_serde.loads` authenticates it as usual.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

__all__ = ["OFFLOAD_BYTES", "REF_PREFIX", "is_ref", "offload", "resolve"]

OFFLOAD_BYTES = 8 << 20
REF_PREFIX = b"FLYTEBLOB:"
_DIGEST = re.compile(rb"[0-9a-f]{64}")


def is_ref(value: object) -> bool:
    return type(value) is bytes and value.startswith(REF_PREFIX)


def offload(folder: Path, data: bytes) -> bytes:
    """Write `data` to `folder/<sha256>` (once) and return the reference to store instead.

    Raises:
        OSError: the file cannot be written (a full disk: the caller retries later).
    """
    digest = hashlib.sha256(data).hexdigest()
    path = folder / digest
    if not path.exists():
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = folder / f".{digest}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb", closefd=False) as f:
                f.write(data)
                f.flush()
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        os.replace(tmp, path)
    return REF_PREFIX + digest.encode()


def resolve(folder: Path, value: bytes | None) -> bytes | None:
    """The bytes a stored value stands for: itself, or the offloaded file it names.

    A reference that is not a plain digest (a planted path) or whose file is missing
    resolves to None: the value is unavailable, never read from elsewhere.
    """
    if value is None or not is_ref(value):
        return value
    digest = value[len(REF_PREFIX) :]
    if not _DIGEST.fullmatch(digest):
        return None
    try:
        with open(folder / digest.decode(), "rb") as f:
            return f.read()
    except OSError:
        return None
