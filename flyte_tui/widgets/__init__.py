"""The dashboard's widgets, one per module."""

from __future__ import annotations

from flyte_tui.widgets.action_tree import ActionTree
from flyte_tui.widgets.details import Details
from flyte_tui.widgets.filter_bar import FilterBar
from flyte_tui.widgets.log_view import LogView
from flyte_tui.widgets.run_header import RunHeader
from flyte_tui.widgets.run_table import RunTable

__all__ = ["ActionTree", "Details", "FilterBar", "LogView", "RunHeader", "RunTable"]
