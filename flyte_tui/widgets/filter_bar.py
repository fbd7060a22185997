"""FilterBar: narrow the runs table by name, phase and task."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.reactive import var
from textual.widgets import Input, Select

from flyte._models import Phase

__all__ = ["FilterBar"]


class FilterBar(Horizontal):
    """A search box (run and task names) and phase / task pickers; posts `Changed`, and
    `Submitted` on enter in the search box.

    Example:
        bar = FilterBar(id="filters")
        bar.tasks = ["pipeline.main", "pipeline.clean"]

        def on_filter_bar_changed(self, event: FilterBar.Changed) -> None:
            runs = feed.runs(phase=event.phase, task=event.task, search=event.search)
    """

    class Changed(Message):
        """The filters changed; None means "any"."""

        def __init__(self, phase: str | None, task: str | None, search: str) -> None:
            super().__init__()
            self.phase = phase
            self.task = task
            self.search = search

    class Submitted(Message):
        """Enter was pressed in the search box: the user wants the results."""

    tasks: var[tuple[str, ...]] = var(())
    """Task names offered by the task picker."""

    def compose(self) -> ComposeResult:
        yield Input(placeholder="/ search runs and tasks", id="search")
        yield Select(
            [(p.value, p.value) for p in Phase], prompt="any phase", id="phase", allow_blank=True
        )
        yield Select([], prompt="any task", id="task", allow_blank=True)

    def watch_tasks(self, tasks: tuple[str, ...]) -> None:
        picker: Select[str] = self.query_one("#task", Select)
        current = picker.value
        picker.set_options([(t, t) for t in tasks])
        if isinstance(current, str) and current in tasks:
            picker.value = current

    def focus_search(self) -> None:
        """Put the cursor in the search box, at once.

        `Widget.focus()` moves the focus only after the keys already waiting are handled,
        so letters typed right after `/` went to the table (where `l` opens logs, `a`
        aborts): focus is set synchronously instead.
        """
        self.screen.set_focus(self.query_one("#search", Input))

    def clear_search(self) -> bool:
        """Empty the search box; False if it was empty already."""
        box = self.query_one("#search", Input)
        if not box.value:
            return False
        box.value = ""
        return True

    def _changed(self) -> None:
        phase = self.query_one("#phase", Select).value
        task = self.query_one("#task", Select).value
        search = self.query_one("#search", Input).value
        self.post_message(
            self.Changed(
                phase if isinstance(phase, str) else None,
                task if isinstance(task, str) else None,
                search.strip(),
            )
        )

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._changed()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Submitted())

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._changed()
