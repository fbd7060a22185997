"""`File`: a reference to one file, content-addressed under the flyte home.

Upstream Flyte uploads files to a blob store. Here the blob store is `$FLYTE_HOME/data`:
`from_local` copies a file to `data/<hash[:2]>/<hash>/<name>`, so a run keeps seeing the
bytes it was given even if the original is edited later. Paths with a URL scheme other
than `file://` (`s3://bucket/key`) map to `data/remote/<scheme>/...`, so code written for
a cluster runs unchanged on a laptop.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import stat
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar, Generic, Protocol, TypeVar, Union

__all__ = ["File"]

T = TypeVar("T")
_CHUNK = 1 << 20
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$")
_OPEN_KWARGS = ("encoding", "errors", "newline", "buffering")


class _HashMethod(Protocol):
    """Upstream's `HashMethod` shape: fed every chunk, then asked for the digest."""

    def update(self, data: memoryview, /) -> Any: ...
    def result(self) -> str: ...


def _data_root() -> Path:
    # Read at call time: tests and `flyte --home` change FLYTE_HOME after import.
    return Path(os.environ.get("FLYTE_HOME", "~/.flyte")).expanduser() / "data"


def _local_path(path: str) -> Path:
    """Map a `File`/`Dir` path (plain, `file://` or `scheme://`) to a local filesystem path."""
    match = _SCHEME.match(path)
    if match is None:
        return Path(path).expanduser()
    scheme, rest = match.groups()
    if scheme == "file":
        return Path(rest)
    parts = [p for p in rest.split("/") if p not in ("", ".", "..")]
    return _data_root().joinpath("remote", scheme, *parts)


def _stored_path(path: str | Path) -> str:
    """The string to keep in `.path` for a user-given destination: URIs as-is, else absolute."""
    text = os.fspath(path)
    return text if _SCHEME.match(text) else str(Path(text).expanduser().absolute())


def _is_immutable(path: Path) -> bool:
    """Whether `path` lies in the content-addressed store, which must never be rewritten."""
    try:
        first = path.resolve().relative_to(_data_root().resolve()).parts[0]
    except (ValueError, IndexError):
        return False
    return first == "dirs" or re.fullmatch(r"[0-9a-f]{2}", first) is not None


def _hash_file(path: Path, method: _HashMethod | None = None) -> str:
    """Stream `path` through blake2b (and `method`, if given); return the hex digest."""
    digest = hashlib.blake2b(digest_size=32)
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            if method is not None:
                method.update(memoryview(chunk))
    return digest.hexdigest()


def _copy_hashing(src: Path, dst: Path) -> str:
    """Copy `src` to `dst` and return the digest of the bytes actually copied."""
    digest = hashlib.blake2b(digest_size=32)
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while chunk := fin.read(_CHUNK):
            digest.update(chunk)
            fout.write(chunk)
    return digest.hexdigest()


def _tmp_dir() -> Path:
    """A scratch directory on the same filesystem as the store, so renames are atomic."""
    root = _data_root()
    if not root.exists():
        root.mkdir(mode=0o700, parents=True, exist_ok=True)  # stored data is private
    tmp = root / "tmp"
    tmp.mkdir(mode=0o700, parents=True, exist_ok=True)
    return tmp


def _plain_name(name: str, what: str) -> str:
    """`name` if it is a plain file name; a name with a path in it could escape its folder.

    Raises:
        ValueError: `name` is empty, `.` / `..`, absolute, or contains a path separator.
    """
    if not name or name in (".", "..") or "/" in name or os.sep in name or "\0" in name:
        raise ValueError(f"{what} {name!r} is not a plain file name (no folders, no '..')")
    return name


def _inside(base: Path, relative: str, what: str) -> Path:
    """`base / relative`, refusing a path that resolves outside `base` (`..`, symlinks).

    Raises:
        ValueError: the path escapes `base`.
    """
    target = base / relative
    try:
        target.resolve().relative_to(base.resolve())
    except ValueError:
        raise ValueError(f"{what} {relative!r} points outside {base}") from None
    return target


def _keep_mode(src: Path, copy: Path) -> None:
    """Give `copy` the permission bits of `src` (a private source stays private)."""
    os.chmod(copy, stat.S_IMODE(src.stat().st_mode) & 0o777)


def _ingest_file(src: Path, dest: Path | None = None) -> tuple[Path, str]:
    """Copy `src` atomically into the store (or to `dest`); return (stored path, digest)."""
    if dest is None:
        digest = _hash_file(src)
        stored = _data_root() / digest[:2] / digest / src.name
        if stored.is_file():  # content-addressed: same bytes are already there
            # Shared by both sources: the stricter permissions of the two win.
            mode = stat.S_IMODE(stored.stat().st_mode) & stat.S_IMODE(src.stat().st_mode)
            os.chmod(stored, mode)
            return stored, digest
    tmp = _tmp_dir() / f"{uuid.uuid4().hex}.part"
    try:
        # Hash the copy, not the earlier read: if `src` changed in between, the name
        # must still describe the bytes we stored.
        digest = _copy_hashing(src, tmp)
        _keep_mode(src, tmp)
        final = dest or _data_root() / digest[:2] / digest / src.name
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final, digest


def _check_source(path: Path, *, want_dir: bool) -> None:
    """Raise a clear error unless `path` exists and is a file (or a directory)."""
    kind = "Dir" if want_dir else "File"
    if not path.exists():
        raise FileNotFoundError(errno.ENOENT, f"{kind}.from_local: no such path", str(path))
    if want_dir and not path.is_dir():
        raise ValueError(f"{path} is a file, not a directory; use File.from_local for files")
    if not want_dir and path.is_dir():
        raise ValueError(f"{path} is a directory, not a file; use Dir.from_local for directories")


class _AsyncFile:
    """Awaitable view of a local file object, shaped like upstream's async handles.

    `read` and `write` are explicit; other I/O methods (`readline`, `seek`, `tell`,
    `flush`, `close`, ...) become coroutines through `__getattr__`; plain attributes
    (`name`, `mode`, `closed`) pass straight through.
    """

    _COROUTINES = frozenset(
        {"readline", "readlines", "seek", "tell", "flush", "close", "truncate", "writelines"}
    )

    def __init__(self, fh: IO[Any], block_size: int | None = None) -> None:
        self._fh = fh
        self._block_size = block_size

    async def read(self, size: int = -1) -> Any:
        """Read up to `size` bytes (all, or one `block_size` chunk, when negative)."""
        if size < 0 and self._block_size:
            size = self._block_size
        return await _to_thread(self._fh.read, size)

    async def write(self, data: Any) -> int:
        """Write `data`; return the number of bytes or characters written."""
        return await _to_thread(self._fh.write, data)

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._fh, attr)
        if attr not in self._COROUTINES:
            return value

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await _to_thread(value, *args, **kwargs)

        return call

    async def __aiter__(self) -> AsyncIterator[Any]:
        while line := await _to_thread(self._fh.readline):
            yield line


@dataclass(frozen=True, eq=False, kw_only=True)
class _Stored:
    """What `File` and `Dir` share: the fields, the defaults, and identity by (path, hash).

    A `File` never equals a `Dir`, even with the same path and hash (`_KIND` differs).
    """

    _KIND: ClassVar[str] = ""

    path: str
    name: str | None = None
    format: str = ""
    hash: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", os.fspath(self.path))
        if self.name is None:
            object.__setattr__(self, "name", Path(self.path).name)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Stored) or other._KIND != self._KIND:
            return NotImplemented
        return (self.path, self.hash) == (other.path, other.hash)

    def __hash__(self) -> int:
        return hash((self.path, self.hash))


@dataclass(frozen=True, eq=False, kw_only=True)
class File(_Stored, Generic[T]):
    """A reference to one file, stored locally and hashed by content.

    `T` names the file's format for readers (`File[DataFrame]`); it is not checked.

        f = await File.from_local("report.csv")     # copied into $FLYTE_HOME/data
        async with f.open("rb") as fh:
            data = await fh.read()
        local = f.download_sync("/tmp/out/")         # a private, writable copy

    Args:
        path: Local path, `file://` URI, or a `scheme://` URI emulated under the flyte home.
        name: Display name; defaults to the basename of `path`.
        format: Free-form format label, as upstream.
        hash: Content hash (or a user-supplied cache key); used for cache keys.
    """

    _KIND: ClassVar[str] = "file"

    @classmethod
    def new_remote(
        cls, file_name: str | None = None, hash_method: _HashMethod | str | None = None
    ) -> File[T]:
        """Create a reference to a fresh, writable location under the flyte home.

        Args:
            file_name: Name of the new file; a random one when omitted.
            hash_method: A string is kept as a precomputed cache key; objects are ignored
                locally (the hash is computed from the content when needed).

        Returns:
            A `File` whose path does not exist yet; write it with `open("wb")`.
        """
        name = _plain_name(file_name, "File.new_remote: file name") if file_name else None
        path = _data_root() / "new" / uuid.uuid4().hex / (name or uuid.uuid4().hex)
        return cls(path=str(path), hash=hash_method if isinstance(hash_method, str) else None)

    @classmethod
    def from_existing_remote(cls, remote_path: str, file_cache_key: str | None = None) -> File[T]:
        """Reference an existing file (local path or URI) without copying it.

        Args:
            remote_path: Where the file lives.
            file_cache_key: Optional precomputed hash to use as the cache key.

        Returns:
            A `File` pointing at `remote_path`.
        """
        return cls(path=remote_path, hash=file_cache_key)

    @classmethod
    def from_local_sync(
        cls,
        local_path: Union[str, Path],
        remote_destination: str | None = None,
        hash_method: _HashMethod | str | None = None,
    ) -> File[T]:
        """Copy a local file into the store and return a reference to the copy.

        Args:
            local_path: The file to store.
            remote_destination: Copy here instead of the content-addressed store.
            hash_method: A string overrides the cache key; an upstream `HashMethod`
                object is fed the content and its result becomes the hash.

        Returns:
            A `File` whose `path` is the stored copy and `hash` the content hash.

        Raises:
            FileNotFoundError: `local_path` does not exist.
            ValueError: `local_path` is a directory.
        """
        src = Path(local_path).expanduser()
        _check_source(src, want_dir=False)
        dest = _local_path(remote_destination) if remote_destination else None
        stored, digest = _ingest_file(src, dest)
        if isinstance(hash_method, str):
            digest = hash_method
        elif hash_method is not None:
            _hash_file(stored, hash_method)
            digest = hash_method.result()
        path = _stored_path(remote_destination) if remote_destination else str(stored)
        return cls(path=path, name=src.name, hash=digest)

    @classmethod
    async def from_local(
        cls,
        local_path: Union[str, Path],
        remote_destination: str | None = None,
        hash_method: _HashMethod | str | None = None,
    ) -> File[T]:
        """Async twin of `from_local_sync`; the copy runs in a worker thread."""
        return await _to_thread(cls.from_local_sync, local_path, remote_destination, hash_method)

    @contextmanager
    def _open_local(
        self, mode: str, compression: str | None, kw: dict[str, Any]
    ) -> Iterator[IO[Any]]:
        if compression is not None:
            raise NotImplementedError(f"compression={compression!r} is not supported locally")
        target = _local_path(self.path)
        opts = {k: v for k, v in kw.items() if k in _OPEN_KWARGS}
        if any(c in mode for c in "wax+"):
            if _is_immutable(target):
                raise ValueError(
                    f"{self.path} is a read-only stored copy; write to File.new_remote()"
                )
            target.parent.mkdir(parents=True, exist_ok=True)
        if "w" not in mode:
            with open(target, mode, **opts) as fh:
                yield fh
            return
        # Truncating writes go to a sibling temp file that replaces the target on a clean
        # exit, so readers never see half a file and a failed write keeps the old one.
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            with open(tmp, mode, **opts) as fh:
                yield fh
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    @asynccontextmanager
    async def open(
        self,
        mode: str = "rb",
        block_size: int | None = None,
        cache_type: str = "readahead",
        cache_options: dict[str, Any] | None = None,
        compression: str | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[_AsyncFile]:
        """Open the file; use as `async with f.open("rb") as fh: data = await fh.read()`.

        Args:
            mode: A builtin `open` mode ("rb", "wb", "rt", ...).
            block_size: When set, `await fh.read()` returns one chunk of this size.
            cache_type: Accepted for upstream compatibility; ignored locally.
            cache_options: Accepted for upstream compatibility; ignored locally.
            compression: Must be None; compressed streams are not supported locally.
            **kwargs: `encoding`, `errors`, `newline` and `buffering` go to `open`.

        Returns:
            An async context manager yielding a handle whose read/write are coroutines.

        Raises:
            ValueError: Writing to a content-addressed (immutable) stored file.
        """
        with self._open_local(mode, compression, kwargs) as fh:
            yield _AsyncFile(fh, block_size)

    @contextmanager
    def open_sync(
        self,
        mode: str = "rb",
        block_size: int | None = None,
        cache_type: str = "readahead",
        cache_options: dict[str, Any] | None = None,
        compression: str | None = None,
        **kwargs: Any,
    ) -> Iterator[IO[Any]]:
        """Sync twin of `open`: yields a plain file object (see `open` for the args)."""
        with self._open_local(mode, compression, kwargs) as fh:
            yield fh

    def exists_sync(self) -> bool:
        """Return whether the file exists."""
        return _local_path(self.path).is_file()

    async def exists(self) -> bool:
        """Async twin of `exists_sync`."""
        return self.exists_sync()

    def download_sync(self, local_path: Union[str, Path, None] = None) -> str:
        """Copy the file to `local_path` (a file, or a directory to copy into).

        Args:
            local_path: Destination; a fresh temporary directory when omitted.

        Returns:
            The absolute path of the copy.

        Raises:
            FileNotFoundError: The referenced file does not exist.
        """
        src = _local_path(self.path)
        if not src.is_file():
            raise FileNotFoundError(errno.ENOENT, "File does not exist", self.path)
        name = _plain_name(self.name or src.name, "File.download: file name")
        if local_path is None:
            dest = Path(tempfile.mkdtemp(prefix="flyte-")) / name
        else:
            dest = Path(local_path).expanduser().absolute()
            if str(local_path).endswith(("/", os.sep)) or dest.is_dir():
                dest = dest / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)  # copyfile, not copy2: the copy should be writable
        return str(dest)

    async def download(self, local_path: Union[str, Path, None] = None) -> str:
        """Async twin of `download_sync`; the copy runs in a worker thread."""
        return await _to_thread(self.download_sync, local_path)

    def __flyte_hash__(self) -> str:
        """Return the cache-key hash: `hash` if set, else the current content hash.

        A missing file hashes by its path, like upstream's attribute-based cache key.
        """
        if self.hash:
            return self.hash
        local = _local_path(self.path)
        if local.is_file():
            return _hash_file(local)
        return "path:" + hashlib.blake2b(self.path.encode(), digest_size=32).hexdigest()

    def __flyte_json__(self) -> dict[str, Any]:
        """Return a JSON-safe summary for display."""
        return {"type": "File", "path": self.path, "name": self.name, "hash": self.hash}


async def _to_thread(func: Any, /, *args: Any, **kwargs: Any) -> Any:
    """asyncio.to_thread, imported on first use so `import flyte` stays free of asyncio."""
    import asyncio

    return await asyncio.to_thread(func, *args, **kwargs)
