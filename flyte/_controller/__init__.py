"""Controllers execute actions; `get_controller()` gives the process's local controller."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flyte._controller.local import LocalController

__all__ = ["get_controller"]


def get_controller() -> LocalController:
    """The process-wide local controller (imported lazily: `import flyte` stays cheap)."""
    from flyte._controller.local import get_controller as _get

    return _get()
