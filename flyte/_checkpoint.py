"""Task checkpoints: `flyte.ctx().checkpoint` saves state that the next attempt loads.

A retried attempt resumes from what the previous attempt saved, as on a cluster. Locally a
checkpoint is a file (bytes, str or a saved file) or a directory under
`$FLYTE_HOME/data/<run>/<action>/checkpoint-<attempt>`.

Example:
    @env.task(retries=3)
    def train(steps: int) -> int:
        cp = flyte.ctx().checkpoint
        prev = cp.load_sync()
        start = int(prev.read_text()) if prev else 0
        for step in range(start, steps):
            ...
            cp.save_sync(str(step + 1))
        return steps
"""

from __future__ import annotations

import pathlib
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

__all__ = ["BaseCheckpoint", "Checkpoint", "action_checkpoint", "latest_checkpoint"]

_PAYLOAD = "payload"


def latest_checkpoint(
    root: pathlib.Path,
    glob_pattern: str = "**/last.ckpt",
    *,
    key: Callable[[pathlib.Path], Any] | None = None,
) -> pathlib.Path | None:
    """The file under `root` matching `glob_pattern` with the largest `key` (newest by default)."""
    root = pathlib.Path(root)
    matches = list(root.glob(glob_pattern))
    if not matches:
        return None
    return max(matches, key=key if key is not None else (lambda p: p.stat().st_mtime))


class BaseCheckpoint(ABC):
    """What a checkpoint helper offers: a local workspace, load and save (async and sync)."""

    @property
    @abstractmethod
    def path(self) -> pathlib.Path:
        """A local directory to read restored checkpoint files from."""

    @abstractmethod
    def prev_exists(self) -> bool:
        """Whether an earlier attempt saved a checkpoint."""

    @abstractmethod
    def load_sync(self) -> pathlib.Path | None:
        """Restore the earlier attempt's checkpoint into `path`; None when there is none."""

    @abstractmethod
    def save_sync(self, data: pathlib.Path | str | bytes) -> None:
        """Save bytes, text, a file or a directory as this attempt's checkpoint."""

    async def load(self) -> pathlib.Path | None:
        return self.load_sync()

    async def save(self, data: pathlib.Path | str | bytes) -> None:
        self.save_sync(data)


class Checkpoint(BaseCheckpoint):
    """A checkpoint saved to `checkpoint_dest` and restored from `checkpoint_src` (local paths).

    `load` returns `path / "payload"` for a saved file, bytes or text, and `path` itself
    (the restored tree) for a saved directory.
    """

    def __init__(self, checkpoint_dest: str, checkpoint_src: str | None = None) -> None:
        self._dest = pathlib.Path(checkpoint_dest)
        self._src = pathlib.Path(checkpoint_src) if checkpoint_src else None
        self._workspace: pathlib.Path | None = None

    @property
    def remote_destination(self) -> str:
        return str(self._dest)

    @property
    def remote_source(self) -> str | None:
        return str(self._src) if self._src is not None else None

    @property
    def path(self) -> pathlib.Path:
        if self._workspace is None:
            self._workspace = pathlib.Path(tempfile.mkdtemp(prefix="flyte-cp-"))
        return self._workspace

    def prev_exists(self) -> bool:
        return self._src is not None and self._src.exists()

    def load_sync(self) -> pathlib.Path | None:
        if not self.prev_exists():
            return None
        assert self._src is not None
        if self._src.is_dir():
            shutil.copytree(self._src, self.path, dirs_exist_ok=True)
            return self.path
        target = self.path / _PAYLOAD
        shutil.copy2(self._src, target)
        return target

    def save_sync(self, data: pathlib.Path | str | bytes) -> None:
        dest = self._dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = dest.with_name(dest.name + ".saving")
        if staging.is_dir():
            shutil.rmtree(staging)
        if isinstance(data, bytes | bytearray):
            staging.write_bytes(bytes(data))
        elif isinstance(data, str) and not pathlib.Path(data).exists():
            staging.write_text(data, encoding="utf-8")  # text, not a path to save
        else:
            source = pathlib.Path(data)
            if source.is_dir():
                shutil.copytree(source, staging)
            else:
                shutil.copy2(source, staging)
        # Replace the previous save only once the new one is complete.
        if dest.is_dir():
            shutil.rmtree(dest)
        staging.replace(dest)


def action_checkpoint(data_dir: pathlib.Path, action_id: str, attempt: int) -> Checkpoint:
    """The checkpoint of one attempt: saved for this attempt, loaded from the latest before it."""
    base = data_dir / action_id
    src = next(
        (
            base / f"checkpoint-{n}"
            for n in range(attempt - 1, 0, -1)
            if (base / f"checkpoint-{n}").exists()
        ),
        None,
    )
    return Checkpoint(str(base / f"checkpoint-{attempt}"), str(src) if src else None)
