"""KeysScreen: every key of the dashboard, by screen (`?`), also written to docs/tui.md.

The footer shows the keys used most; this screen lists them all. `KEYS` is built from the
bindings themselves, so the help, the docs and the code cannot disagree.
"""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["KeysScreen", "keys_by_screen"]

_KEY_NAMES = {
    "slash": "/",
    "question_mark": "?",
    "escape": "esc",
    "enter": "enter",
    "space": "space",
}


def _key(binding: Binding) -> str:
    return ", ".join(_KEY_NAMES.get(k.strip(), k.strip()) for k in binding.key.split(","))


def _rows(bindings: list[BindingType]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for binding in bindings:
        if isinstance(binding, Binding) and binding.description:
            rows.append((_key(binding), binding.description))
    return rows


def keys_by_screen() -> dict[str, list[tuple[str, str]]]:
    """(key, what it does) for every binding, by where it works."""
    from flyte_tui.app import DashboardApp
    from flyte_tui.screens.run_detail import RunScreen
    from flyte_tui.screens.runs import RunsScreen
    from flyte_tui.widgets.action_tree import ActionTree
    from flyte_tui.widgets.run_table import RunTable

    return {
        "Everywhere": _rows(DashboardApp.BINDINGS),
        "Runs list": _rows([*RunsScreen.BINDINGS, *RunTable.BINDINGS]),
        "Run screen": _rows([*RunScreen.BINDINGS, *ActionTree.BINDINGS]),
    }


class KeysScreen(ModalScreen[None]):
    """Every key, by screen; escape, `?` or `q` closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "close", "Close"),
    ]

    def __init__(self) -> None:
        super().__init__(id="keys-screen")

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, pad_edge=False)
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for section, rows in keys_by_screen().items():
            table.add_row(f"[reverse] {section} [/]", "")
            for key, what in rows:
                table.add_row(key, what)
            table.add_row("", "")
        with VerticalScroll(id="keys-box"):
            yield Static(table, id="keys-table")
            yield Static("esc, ? or q closes this", id="keys-hint")

    def action_close(self) -> None:
        """Back to the screen below."""
        self.dismiss(None)
