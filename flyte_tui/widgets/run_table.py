"""RunTable: every run, newest first, one row each; updates cells in place."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable

from flyte._models import Phase
from flyte_tui import _format

if TYPE_CHECKING:
    from flyte._models import RunRecord

__all__ = ["RunTable"]

COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "Run"),
    ("task", "Task"),
    ("phase", "Phase"),
    ("started", "Started"),
    ("duration", "Took"),
    ("actions", "Actions"),
)
"""Cache hits share the Actions cell (`23 · 3 cached`): the table fits 80 columns."""


class RunTable(DataTable[Text]):
    """A table of runs fed with `RunRecord` lists; posts `Selected` / `Highlighted`.

    Example:
        table = RunTable(id="runs")
        table.show(store.list_runs())

        def on_run_table_selected(self, event: RunTable.Selected) -> None:
            self.app.push_screen(RunScreen(event.run))
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Open"),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *DataTable.COMPONENT_CLASSES,
        "run-table--queued",
        "run-table--running",
        "run-table--succeeded",
        "run-table--failed",
        "run-table--timed-out",
        "run-table--aborted",
        "run-table--dim",
        "run-table--cache-hit",
    }

    class Selected(Message):
        """Enter was pressed on run `run`."""

        def __init__(self, run: str) -> None:
            super().__init__()
            self.run = run

    class Highlighted(Message):
        """The cursor moved to run `run`."""

        def __init__(self, run: str) -> None:
            super().__init__()
            self.run = run

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self._records: dict[str, RunRecord] = {}
        self._order: list[str] = []

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    def _style(self, name: str) -> Style:
        try:
            return self.get_component_rich_style(f"run-table--{name}", partial=True)
        except KeyError:
            return Style()

    def _cells(self, run: RunRecord) -> dict[str, Text]:
        phase = run.phase.value + (" (interrupted)" if run.interrupted else "")
        took = _format.duration(_format.elapsed(run.started_at, run.ended_at))
        return {
            "name": Text(run.name),
            "task": Text(run.task),
            "phase": Text(
                f"{_format.PHASE_ICONS[run.phase]} {phase}",
                style=self._style(_format.phase_class(run.phase)),
            ),
            "started": Text(
                _format.clock(run.started_at or run.created_at), style=self._style("dim")
            ),
            "duration": Text(took, justify="right"),
            "actions": self._actions_cell(run),
        }

    def _actions_cell(self, run: RunRecord) -> Text:
        text = Text(str(run.action_count), justify="right")
        if run.cache_hits:
            text.append(f" · {run.cache_hits} cached", self._style("cache-hit"))
        return text

    def show(self, runs: list[RunRecord]) -> None:
        """Display `runs` (newest first): update changed cells, rebuild only on reorder."""
        order = [r.name for r in runs]
        if order == self._order:
            for run in runs:
                if self._records.get(run.name) != run:
                    self._update_row(run)
                self._records[run.name] = run
            return
        selected = self.selected_run
        self.clear()
        self._records = {r.name: r for r in runs}
        self._order = order
        for run in runs:
            cells = self._cells(run)
            self.add_row(*(cells[key] for key, _ in COLUMNS), key=run.name)
        if selected in self._records:
            self.move_cursor(row=order.index(selected), scroll=False)

    def _update_row(self, run: RunRecord) -> None:
        old = self._records.get(run.name)
        cells = self._cells(run)
        previous = self._cells(old) if old is not None else {}
        for key, value in cells.items():
            if previous.get(key) != value:
                self.update_cell(run.name, key, value)

    def tick(self) -> None:
        """Refresh the duration of running runs, which grows with the clock."""
        for name, run in self._records.items():
            if run.phase in (Phase.RUNNING, Phase.QUEUED):
                self.update_cell(name, "duration", self._cells(run)["duration"])

    @property
    def has_active_runs(self) -> bool:
        """Whether a shown run is still queued or running."""
        return any(not run.phase.is_terminal for run in self._records.values())

    @property
    def selected_run(self) -> str | None:
        """The name of the run under the cursor, if any."""
        if not self._order or not 0 <= self.cursor_row < len(self._order):
            return None
        return self._order[self.cursor_row]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.Selected(event.row_key.value))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.Highlighted(event.row_key.value))
