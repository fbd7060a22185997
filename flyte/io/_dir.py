"""`Dir`: a reference to a directory tree, content-addressed under the flyte home.

`Dir.from_local` copies a tree to `$FLYTE_HOME/data/dirs/<hash>/<name>`, where the hash
covers every file's relative path and content hash, so renaming, adding or editing any
file gives a new hash (and a new cache key). Only regular files count: empty directories
and symlinked directories are neither hashed nor copied.
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar, Union

from ._file import (
    File,
    _check_source,
    _copy_hashing,
    _data_root,
    _hash_file,
    _inside,
    _keep_mode,
    _local_path,
    _Stored,
    _stored_path,
    _tmp_dir,
    _to_thread,
)

__all__ = ["Dir"]

T = TypeVar("T")


def _iter_files(root: Path, max_depth: int | None = None) -> Iterator[Path]:
    """Yield regular files under `root` in a stable order; depth 1 is `root`'s own files.

    A symlink counts only when it points inside the tree: one pointing out (to
    `~/.ssh/id_rsa`, say) would copy a file the user never meant to put in the Dir.
    """
    real_root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root):
        depth = len(Path(dirpath).relative_to(root).parts) + 1
        dirnames.sort()
        if max_depth is not None and depth >= max_depth:
            dirnames.clear()
        for name in sorted(filenames):
            path = Path(dirpath, name)
            if path.is_symlink() and not path.resolve().is_relative_to(real_root):
                continue
            if path.is_file():
                yield path


def _tree_digest(entries: list[tuple[str, str]]) -> str:
    """Digest of sorted (relative posix path, file content hash) pairs."""
    digest = hashlib.blake2b(digest_size=32)
    for rel, file_hash in sorted(entries):
        digest.update(f"{rel}\0{file_hash}\n".encode())
    return digest.hexdigest()


def _hash_tree(root: Path) -> str:
    return _tree_digest(
        [(p.relative_to(root).as_posix(), _hash_file(p)) for p in _iter_files(root)]
    )


def _ingest_dir(src: Path, dest: Path | None = None) -> tuple[Path, str]:
    """Copy the tree at `src` into the store (or to `dest`); return (stored path, digest)."""
    name = src.name or "root"
    if dest is None:
        stored = _data_root() / "dirs" / _hash_tree(src) / name
        if stored.is_dir():  # content-addressed: this exact tree is already there
            return stored, stored.parent.name
    tmp = _tmp_dir() / uuid.uuid4().hex
    try:
        # The digest comes from the bytes copied, so it always describes what is stored.
        tmp.mkdir(parents=True)
        entries = []
        for path in _iter_files(src):
            rel = path.relative_to(src)
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            entries.append((rel.as_posix(), _copy_hashing(path, tmp / rel)))
            _keep_mode(path, tmp / rel)
        digest = _tree_digest(entries)
        final = dest or _data_root() / "dirs" / digest / name
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(tmp, final)  # atomic: the tree appears whole or not at all
        except OSError:
            if not final.is_dir():
                raise
            if dest is not None:  # an explicit destination merges, like an upload would
                shutil.copytree(tmp, final, dirs_exist_ok=True)
            # else another process stored the same tree first; keep theirs
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final, digest


@dataclass(frozen=True, eq=False, kw_only=True)
class Dir(_Stored, Generic[T]):
    """A reference to a directory tree, stored locally and hashed by content.

    `T` names the format of the files inside (`Dir[DataFrame]`); it is not checked.

        d = await Dir.from_local("data/")            # copied into $FLYTE_HOME/data/dirs
        async for f in d.walk():
            print(f.name)
        local = d.download_sync()                    # a private, writable copy

    Args:
        path: Local path, `file://` URI, or a `scheme://` URI emulated under the flyte home.
        name: Display name; defaults to the basename of `path`.
        format: Free-form format label, as upstream.
        hash: Tree hash (or a user-supplied cache key); used for cache keys.
    """

    _KIND: ClassVar[str] = "dir"

    @classmethod
    def from_existing_remote(cls, remote_path: str, dir_cache_key: str | None = None) -> Dir[T]:
        """Reference an existing directory (local path or URI) without copying it.

        Args:
            remote_path: Where the directory lives.
            dir_cache_key: Optional precomputed hash to use as the cache key.

        Returns:
            A `Dir` pointing at `remote_path`.
        """
        return cls(path=remote_path, hash=dir_cache_key)

    @classmethod
    def from_local_sync(
        cls,
        local_path: Union[str, Path],
        remote_path: str | None = None,
        dir_cache_key: str | None = None,
        *,
        remote_destination: str | None = None,
    ) -> Dir[T]:
        """Copy a local directory tree into the store and return a reference to the copy.

        Args:
            local_path: The directory to store.
            remote_path: Copy here instead of the content-addressed store.
            dir_cache_key: Use this as `hash` instead of the computed tree hash.
            remote_destination: Alias of `remote_path`, named like `File.from_local`'s.

        Returns:
            A `Dir` whose `path` is the stored copy and `hash` the tree hash.

        Raises:
            FileNotFoundError: `local_path` does not exist.
            ValueError: `local_path` is a file.
        """
        src = Path(local_path).expanduser().absolute()
        _check_source(src, want_dir=True)
        if _data_root().resolve().is_relative_to(src.resolve()):
            raise ValueError(
                f"{src} contains the flyte data store {_data_root()}; store a subdirectory"
            )
        target = remote_path or remote_destination
        stored, digest = _ingest_dir(src, _local_path(target) if target else None)
        path = _stored_path(target) if target else str(stored)
        return cls(path=path, name=src.name, hash=dir_cache_key or digest)

    @classmethod
    async def from_local(
        cls,
        local_path: Union[str, Path],
        remote_path: str | None = None,
        dir_cache_key: str | None = None,
        *,
        remote_destination: str | None = None,
    ) -> Dir[T]:
        """Async twin of `from_local_sync`; the copy runs in a worker thread."""
        return await _to_thread(
            cls.from_local_sync,
            local_path,
            remote_path,
            dir_cache_key,
            remote_destination=remote_destination,
        )

    def walk_sync(
        self, recursive: bool = True, file_pattern: str = "*", max_depth: int | None = None
    ) -> Iterator[File[T]]:
        """Yield a `File` for each file in the tree, in a stable (sorted) order.

        Args:
            recursive: When False, only the top-level files.
            file_pattern: Glob matched against each file name ("*.csv").
            max_depth: Levels to descend; 1 means top-level files only.

        Returns:
            An iterator of `File`s (their `hash` is computed lazily when needed).

        Raises:
            FileNotFoundError: The directory does not exist.
        """
        root = _local_path(self.path)
        if not root.is_dir():
            raise FileNotFoundError(errno.ENOENT, "Dir does not exist", self.path)
        for path in _iter_files(root, 1 if not recursive else max_depth):
            if fnmatch.fnmatch(path.name, file_pattern):
                yield File[T](path=str(path))

    async def walk(
        self, recursive: bool = True, max_depth: int | None = None, file_pattern: str = "*"
    ) -> AsyncIterator[File[T]]:
        """Async twin of `walk_sync`: `async for f in d.walk(): ...`."""
        files = await _to_thread(lambda: list(self.walk_sync(recursive, file_pattern, max_depth)))
        for file in files:
            yield file

    def list_files_sync(self) -> list[File[T]]:
        """Return the top-level files (not recursive), like upstream."""
        return list(self.walk_sync(recursive=False))

    async def list_files(self) -> list[File[T]]:
        """Async twin of `list_files_sync`."""
        return await _to_thread(self.list_files_sync)

    def get_file_sync(self, file_name: str) -> File[T] | None:
        """Return the file at `file_name` (relative to this directory), or None if absent."""
        path = _inside(_local_path(self.path), file_name, "Dir.get_file: file name")
        return File[T](path=str(path)) if path.is_file() else None

    async def get_file(self, file_name: str) -> File[T] | None:
        """Async twin of `get_file_sync`."""
        return self.get_file_sync(file_name)

    def exists_sync(self) -> bool:
        """Return whether the directory exists."""
        return _local_path(self.path).is_dir()

    async def exists(self) -> bool:
        """Async twin of `exists_sync`."""
        return self.exists_sync()

    def download_sync(self, local_path: Union[str, Path, None] = None) -> str:
        """Copy the tree to `local_path` (its contents go directly into it).

        Args:
            local_path: Destination directory; `<new temp dir>/<name>` when omitted.

        Returns:
            The absolute path of the copy.

        Raises:
            FileNotFoundError: The referenced directory does not exist.
        """
        src = _local_path(self.path)
        if not src.is_dir():
            raise FileNotFoundError(errno.ENOENT, "Dir does not exist", self.path)
        if local_path is None:
            dest = Path(tempfile.mkdtemp(prefix="flyte-")) / (self.name or src.name or "dir")
        else:
            dest = Path(local_path).expanduser().absolute()
        shutil.copytree(src, dest, dirs_exist_ok=True, copy_function=shutil.copyfile)
        return str(dest)

    async def download(self, local_path: Union[str, Path, None] = None) -> str:
        """Async twin of `download_sync`; the copy runs in a worker thread."""
        return await _to_thread(self.download_sync, local_path)

    def __flyte_hash__(self) -> str:
        """Return the cache-key hash: `hash` if set, else the current tree hash.

        A missing directory hashes by its path, like upstream's attribute-based cache key.
        """
        if self.hash:
            return self.hash
        root = _local_path(self.path)
        if root.is_dir():
            return _hash_tree(root)
        return "path:" + hashlib.blake2b(self.path.encode(), digest_size=32).hexdigest()

    def __flyte_json__(self) -> dict[str, Any]:
        """Return a JSON-safe summary for display."""
        return {"type": "Dir", "path": self.path, "name": self.name, "hash": self.hash}
