"""RunsScreen: every run in the store, newest first, live and filterable."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from flyte.errors import FlyteError
from flyte_tui.widgets import FilterBar, RunTable

if TYPE_CHECKING:
    from flyte._models import RunRecord
    from flyte_tui.app import DashboardApp

__all__ = ["RunsScreen"]


class RunsScreen(Screen[None]):
    """The run list: `enter` opens a run, `/` searches, the pickers filter by phase and task."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # A priority binding acts before the keys typed after it are routed: with a plain
        # one, letters typed fast after `/` went to the table (`l` opened logs, `a` abort).
        Binding("slash", "filter", "Search", priority=True),
        Binding("l", "open_logs", "Logs"),
        Binding("escape", "clear_filter", "Clear the search", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(id="runs-screen")
        self._filter_values: tuple[str | None, str | None, str] = (None, None, "")
        self._shown: tuple[str | None, str | None, str] | None = None
        """The filters of the rows on screen; None before the first load."""
        self._when_current: str | None = None
        """What to do once the rows match the filters: "focus" (enter in the search box)
        or "open" (enter on a row shown for older filters)."""
        self._loading = False
        self._dirty = False
        self._tasks: set[str] = set()
        self._newest: str | None = None

    @property
    def dashboard(self) -> DashboardApp:
        """The app, typed."""
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(id="runs-title")
        yield FilterBar(id="filters")
        yield RunTable(id="run-table")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#runs-title", Static).update(
            f"flyte runs · {self.dashboard.feed.store.path}"
        )
        self.watch(self.app, "version", self._store_changed, init=False)
        self.set_interval(1.0, self._tick)
        self.query_one(RunTable).focus()
        self.reload()

    def on_screen_resume(self) -> None:
        self.reload()

    @property
    def _in_view(self) -> bool:
        # `is_current` also holds right under the screen on top (Textual counts it as a
        # possible background): the run list kept re-reading under a run screen.
        top = self.app.screen
        return top is self or (isinstance(top, ModalScreen) and self.is_current)

    def _store_changed(self) -> None:
        if self._in_view:
            self.reload()

    def _tick(self) -> None:
        if self._in_view:
            table = self.query_one(RunTable)
            table.tick()
            if table.has_active_runs:
                self.reload()  # notices drivers that died (they write nothing)

    @property
    def selected_run(self) -> str | None:
        """The run under the cursor."""
        return self.query_one(RunTable).selected_run

    # -- loading -------------------------------------------------------------------

    def reload(self) -> None:
        """Read the runs again (in a worker; calls made while one runs coalesce)."""
        if self._loading:
            self._dirty = True
            return
        self._loading = True
        self._load(self._filter_values)

    @work(thread=True, exclusive=True, group="runs")
    def _load(self, filters: tuple[str | None, str | None, str]) -> None:
        worker = get_current_worker()
        phase, task, search = filters
        runs: list[RunRecord] = []
        try:
            runs = self.dashboard.feed.runs(phase=phase, task=task, search=search)
        except FlyteError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
        if not worker.is_cancelled:
            # A message to this screen, not a call on the app: the read can finish while the
            # screen is being removed, after its table went; the closed queue drops it.
            self.post_message(self.Loaded(filters, runs))

    class Loaded(Message):
        """A read of the run list finished (posted by the loading worker to its screen)."""

        bubble = False

        def __init__(
            self, filters: tuple[str | None, str | None, str], runs: list[RunRecord]
        ) -> None:
            super().__init__()
            self.filters = filters
            self.runs = runs

    def on_runs_screen_loaded(self, event: Loaded) -> None:
        self._loaded(event.filters, event.runs)

    def _loaded(self, filters: tuple[str | None, str | None, str], runs: list[RunRecord]) -> None:
        self._loading = False
        if filters == self._filter_values:
            table = self.query_one(RunTable)
            table.show(runs)
            self._shown = filters
            newest = runs[0].name if runs else None
            if self.dashboard.follow and newest is not None and newest != self._newest:
                table.move_cursor(row=0)
            self._newest = newest
            if not any(filters):  # the task picker offers tasks seen without filters
                tasks = {r.task for r in runs}
                if not tasks <= self._tasks:
                    self._tasks |= tasks
                    self.query_one(FilterBar).tasks = tuple(sorted(self._tasks))
            title = f"flyte runs · {len(runs)} shown · {self.dashboard.store_label}"
            self.query_one("#runs-title", Static).update(title)
            self._catch_up()
        if self._dirty or filters != self._filter_values:
            self._dirty = False
            self.reload()

    # -- events and actions --------------------------------------------------------

    def on_filter_bar_changed(self, event: FilterBar.Changed) -> None:
        self._filter_values = (event.phase, event.task, event.search)
        self.reload()

    def on_filter_bar_submitted(self, event: FilterBar.Submitted) -> None:
        # The rows may still be those of fewer typed letters: act once they match.
        self._when_current = "focus"
        self._catch_up()

    def on_run_table_selected(self, event: RunTable.Selected) -> None:
        if self._shown != self._filter_values:
            self._when_current = "open"  # the row is stale: open the first current match
            return
        self.dashboard.open_run(event.run)

    def _catch_up(self) -> None:
        """Do what enter asked for once the rows on screen match the filters."""
        if self._when_current is None or self._shown != self._filter_values:
            return
        todo, self._when_current = self._when_current, None
        table = self.query_one(RunTable)
        self.set_focus(table)  # now: keys already typed must land here
        if table.row_count:
            table.move_cursor(row=0)
            run = table.selected_run
            if todo == "open" and run is not None:
                self.dashboard.open_run(run)

    def action_filter(self) -> None:
        """Focus the search box (run and task names)."""
        self.query_one(FilterBar).focus_search()

    def action_clear_filter(self) -> None:
        """Empty the search box and go back to the table."""
        self.query_one(FilterBar).clear_search()
        self.set_focus(self.query_one(RunTable))

    def action_open_logs(self) -> None:
        """Open the selected run with its whole-run logs in front."""
        run = self.selected_run
        if run is not None:
            self.dashboard.open_run(run, logs=True)
