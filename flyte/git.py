"""`flyte.git.config_from_root()`: the project's config file at the root of its git checkout."""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["config_from_root"]


def config_from_root(path: str | Path = ".flyte/config.yaml") -> Path | None:
    """`path` under the git root of the current directory, or None outside git / if absent.

    `flyte.init_from_config(flyte.git.config_from_root())` then works with or without one.
    """
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=False
        )
    except OSError:  # git is not installed
        return None
    if out.returncode != 0:
        return None
    candidate = Path(out.stdout.strip()) / path
    return candidate if candidate.exists() else None
