"""The dashboard's screens: the run list and one run."""

from __future__ import annotations

from flyte_tui.screens.confirm import ConfirmScreen
from flyte_tui.screens.keys import KeysScreen
from flyte_tui.screens.run_detail import RunScreen
from flyte_tui.screens.runs import RunsScreen

__all__ = ["ConfirmScreen", "KeysScreen", "RunScreen", "RunsScreen"]
