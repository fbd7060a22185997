"""The dashboard's widgets, one per module."""

from __future__ import annotations

from tui.widgets.action_tree import ActionTree
from tui.widgets.details import Details
from tui.widgets.filter_bar import FilterBar
from tui.widgets.log_view import LogView
from tui.widgets.run_header import RunHeader
from tui.widgets.run_table import RunTable

__all__ = ["ActionTree", "Details", "FilterBar", "LogView", "RunHeader", "RunTable"]
