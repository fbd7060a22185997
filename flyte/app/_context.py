"""`flyte.app.ctx()`: where an app runs."""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["AppContext", "ctx"]


@dataclass(frozen=True)
class AppContext:
    """The context of an app: "local" when served by `flyte.serve` on this machine."""

    mode: str = "local"
    project: str = ""
    raw_data_path: str = ""
    domain: str = ""


def ctx() -> AppContext:
    """The current app context."""
    return AppContext(
        mode=os.environ.get("_RUN_MODE", "local"),
        project=os.environ.get("FLYTE_INTERNAL_EXECUTION_PROJECT", ""),
        domain=os.environ.get("FLYTE_INTERNAL_EXECUTION_DOMAIN", ""),
        raw_data_path=os.environ.get("_FLYTE_APP_RAW_DATA_PATH", ""),
    )
