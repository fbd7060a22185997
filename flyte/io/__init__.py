"""Offloaded data types: `File` and `Dir`, stored content-addressed under the flyte home."""

from __future__ import annotations

from ._dir import Dir
from ._file import File

__all__ = ["Dir", "File"]
