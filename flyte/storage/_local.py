"""Upstream's storage helpers over local paths (async, with `_sync` twins where upstream has them)."""

from __future__ import annotations

import builtins
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Any

from flyte.errors import InvalidOptionError

__all__ = [
    "exists",
    "exists_sync",
    "get",
    "get_random_local_directory",
    "get_random_local_path",
    "get_stream",
    "get_underlying_filesystem",
    "is_remote",
    "join",
    "open",
    "put",
    "put_stream",
]


def is_remote(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is a URL of another filesystem (s3://, gs://, ...), not a local path."""
    text = str(path)
    return "://" in text and not text.startswith("file://")


def _local(path: str | os.PathLike[str]) -> Path:
    text = str(path)
    if is_remote(text):
        scheme = text.split("://", 1)[0]
        raise InvalidOptionError(
            f"{text}: {scheme}:// storage is not reachable from a local run; use a local path "
            "(flyte-local keeps data under $FLYTE_HOME)"
        )
    return Path(text.removeprefix("file://")).expanduser()


def join(*paths: str) -> str:
    """Join path parts (URL-aware, as upstream)."""
    if paths and is_remote(paths[0]):
        return "/".join(p.strip("/") if i else p.rstrip("/") for i, p in enumerate(paths))
    return os.path.join(*paths)


def get_random_local_path(file_path_or_file_name: str | Path | None = None) -> Path:
    """A fresh path in a new temporary directory (ending in the given file name)."""
    base = Path(tempfile.mkdtemp(prefix="flyte-"))
    name = Path(str(file_path_or_file_name)).name if file_path_or_file_name else uuid.uuid4().hex
    return base / name


def get_random_local_directory() -> Path:
    """A new, empty temporary directory."""
    return Path(tempfile.mkdtemp(prefix="flyte-"))


def exists_sync(path: str, **kwargs: Any) -> bool:
    return _local(path).exists()


async def exists(path: str, **kwargs: Any) -> bool:
    """Whether a file or directory exists at `path`."""
    return exists_sync(path)


def _copy(src: Path, dst: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, dst, dirs_exist_ok=True)
    else:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)


async def get(
    from_path: str, to_path: str | None = None, recursive: bool = False, **kwargs: Any
) -> str:
    """Copy `from_path` to `to_path` (a fresh local path by default); return where it went."""
    src = _local(from_path)
    dst = _local(to_path) if to_path else get_random_local_path(src.name)
    _copy(src, dst)
    return str(dst)


async def put(
    from_path: str, to_path: str | None = None, recursive: bool = False, **kwargs: Any
) -> str:
    """Copy a local file or directory to `to_path` (a fresh local path by default)."""
    return await get(from_path, to_path, recursive=recursive)


async def put_stream(
    data_iterable: Any, *, name: str | None = None, to_path: str | None = None, **kwargs: Any
) -> str:
    """Write bytes (or an iterable / async iterable of bytes) to a file; return its path."""
    dst = _local(to_path) if to_path else get_random_local_path(name)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with builtins.open(dst, "wb") as f:
        if isinstance(data_iterable, bytes | bytearray | memoryview):
            f.write(data_iterable)
        elif hasattr(data_iterable, "__aiter__"):
            async for chunk in data_iterable:
                f.write(chunk)
        else:
            for chunk in data_iterable:
                f.write(chunk)
    return str(dst)


async def get_stream(
    path: str, chunk_size: int = 10 * 2**20, **kwargs: Any
) -> AsyncIterator[bytes]:
    """The bytes of the file at `path`, in chunks."""
    with builtins.open(_local(path), "rb") as f:
        while chunk := f.read(chunk_size):
            yield chunk


async def open(path: str, mode: str = "rb", **kwargs: Any) -> IO[Any]:
    """Open a local file (upstream returns an fsspec file; a local file behaves alike)."""
    return builtins.open(_local(path), mode)


def get_underlying_filesystem(
    protocol: str | None = None, anonymous: bool = False, path: str | None = None, **kwargs: Any
) -> Any:
    """The fsspec filesystem for `protocol`; locally "file" (needs fsspec installed).

    Raises:
        InvalidOptionError: a cloud protocol, or fsspec is not installed.
    """
    proto = protocol or (path.split("://", 1)[0] if path and "://" in path else "file")
    if proto not in ("file", "local"):
        raise InvalidOptionError(f"{proto}:// storage is not reachable from a local run")
    try:
        import fsspec  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        raise InvalidOptionError(
            "get_underlying_filesystem needs fsspec: pip install fsspec"
        ) from None
    return fsspec.filesystem("file")
