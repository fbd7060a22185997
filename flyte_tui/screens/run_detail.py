"""RunScreen: one run's live action tree, the selected action's details, and logs."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input
from textual.worker import get_current_worker

from flyte._models import ActionKind, Phase
from flyte.errors import FlyteError
from flyte_tui import _format
from flyte_tui.data import RunActions, is_group_key
from flyte_tui.widgets import ActionTree, Details, LogView, RunHeader

if TYPE_CHECKING:
    from textual.timer import Timer

    from flyte._models import ActionRecord, RunRecord
    from flyte_tui.app import DashboardApp
    from flyte_tui.data import ActionDiff

__all__ = ["RunScreen"]

_READ_SHARE = 0.2
"""At most this share of a core goes to re-reading a run's changing actions: after a read
(and applying it) that took T of CPU, the next waits T * (1 / share - 1). A 5,000-action
run that keeps changing is re-read about every half second, a 100,000-action one every
few seconds; a small run at once. A run that only beats its heartbeat is not re-read."""


class RunScreen(Screen[None]):
    """The run screen: tree on the left, details and logs on the right.

    `run=None` shows the newest run (and waits for one); with the app's `follow` on and
    `follow_latest`, the screen moves to each newer run as it appears (watch mode).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Runs"),
        Binding("l", "toggle_logs", "Logs"),
        Binding("slash", "search", "Search", priority=True),  # see RunsScreen
        Binding("w", "toggle_scope", "Logs of the run / the action", show=False),
        Binding("e", "expand", "Show values in full", show=False),
        Binding("o", "open_report", "Open report", show=False),
    ]

    def __init__(self, run: str | None, *, logs: bool = False) -> None:
        super().__init__(id="run-screen")
        self.run_name = run
        self.record: RunRecord | None = None
        self.model: RunActions | None = None
        self.whole_run_logs = logs
        self._logs_open = logs
        self._loading = False
        self._dirty = False
        self._followed: str | None = None
        self._placed_cursor = False
        self._version: tuple[Any, ...] | None = None
        """`RunFeed.actions_version` of the actions on screen."""
        self._read_cost = 0.0
        self._next_read = 0.0
        """When (monotonic) the actions may be read again (see _READ_SHARE)."""
        self._pending: Timer | None = None

    @property
    def dashboard(self) -> DashboardApp:
        """The app, typed."""
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        feed = self.dashboard.feed
        yield RunHeader(id="run-header")
        with Horizontal(id="run-body"):
            yield ActionTree(id="tree")
            with Vertical(id="side"):
                yield Details(feed, id="details")
                yield LogView(feed, id="logs")
        yield Footer()

    def on_mount(self) -> None:
        self.set_class(self._logs_open, "-logs-open")
        logs = self.query_one(LogView)
        logs.describe = self._describe
        logs.members = self._with_traces
        self.query_one(RunHeader).waiting(self.run_name)
        self.watch(self.app, "version", self._store_changed, init=False)
        self.watch(self.app, "follow", self._follow_changed, init=False)
        self.set_interval(1.0, self._tick)
        self.query_one(ActionTree).focus()
        self.reload()

    @property
    def selected_run(self) -> str | None:
        """The run shown (what rerun / recover / abort / copy act on)."""
        return self.record.name if self.record is not None else self.run_name

    # -- loading -------------------------------------------------------------------

    def _store_changed(self) -> None:
        if self.is_current:
            self.reload()

    def reload(self) -> None:
        """Read the run and its actions again (in a worker; calls coalesce)."""
        if self._loading:
            self._dirty = True
            return
        self._loading = True
        self._load(self.run_name)

    @work(thread=True, exclusive=True, group="run")
    def _load(self, name: str | None) -> None:
        worker = get_current_worker()
        feed = self.dashboard.feed
        record: RunRecord | None = None
        actions: list[ActionRecord] | None = None
        version: tuple[Any, ...] | None = None
        wait = 0.0
        try:
            newest = feed.newest_run() if name is None or self._follows_latest() else None
            if newest is not None and (name is None or newest.created_at > self._created_at()):
                name = newest.name
            record = feed.run(name) if name is not None else None
            if record is not None and name is not None:
                # Read before the actions: a change made meanwhile moves it again.
                version = feed.actions_version(name)
                if self._unchanged(name, record, version):
                    pass  # a heartbeat, or a write to another run: nothing to re-read
                elif (wait := self._next_read - time.monotonic()) > 0 and self._shows(name):
                    pass  # read again once the pause is over (see _READ_SHARE)
                else:
                    wait = 0.0
                    started = time.thread_time()
                    actions = feed.actions(name)
                    self._read_cost = time.thread_time() - started
        except FlyteError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
        if not worker.is_cancelled:
            self.app.call_from_thread(self._loaded, name, record, actions, version, wait)

    def _shows(self, name: str) -> bool:
        return self.model is not None and self.model.run == name

    def _unchanged(self, name: str, record: RunRecord, version: tuple[Any, ...] | None) -> bool:
        """Whether the actions on screen are still those of the store."""
        shown = self.record
        return (
            version is not None
            and version == self._version
            and self._shows(name)
            and shown is not None
            # A run whose driver died reads ABORTED, and its running actions with it.
            and (shown.phase, shown.interrupted) == (record.phase, record.interrupted)
        )

    def _follows_latest(self) -> bool:
        return self.dashboard.follow_latest and self.dashboard.follow

    def _created_at(self) -> float:
        return self.record.created_at if self.record is not None else 0.0

    def _loaded(
        self,
        name: str | None,
        record: RunRecord | None,
        actions: list[ActionRecord] | None,
        version: tuple[Any, ...] | None,
        wait: float,
    ) -> None:
        self._loading = False
        if record is not None and name is not None:
            if self.model is None or self.model.run != name:
                self._switch_to(name)
            assert self.model is not None
            self.record = record
            if actions is not None:
                started = time.thread_time()
                self._apply(self.model.update(actions), first=not self._placed_cursor)
                self._version = version
                cost = self._read_cost + time.thread_time() - started
                self._next_read = time.monotonic() + cost * (1 / _READ_SHARE - 1)
            else:
                self._show_header()
                if self.dashboard.follow and self._placed_cursor:
                    self._follow()  # a move the tree could not show last time
            if wait > 0 and self._pending is None:
                self._pending = self.set_timer(wait, self._reload_pending)
        if self._dirty:
            self._dirty = False
            self.reload()

    def _reload_pending(self) -> None:
        self._pending = None
        self.reload()

    def _switch_to(self, name: str) -> None:
        """Show run `name` from scratch (first load, or a newer run in watch mode)."""
        self.run_name = name
        self.model = RunActions(name)
        self._placed_cursor = False
        self._followed = None
        self.query_one(ActionTree).show_model(self.model)
        self.query_one(LogView).target = (name, None) if self.whole_run_logs else None

    def _apply(self, diff: ActionDiff, *, first: bool) -> None:
        assert self.model is not None and self.record is not None
        tree = self.query_one(ActionTree)
        tree.apply(diff)
        self._show_header()
        if first and self.model.actions:
            self._placed_cursor = True
            start = self._first_failure()
            if start is None or not tree.move_to(start):
                start = "a0"
                tree.move_to(start)
            # The cursor may already sit on that line (a new run in watch mode), in which
            # case the tree posts no Highlighted message: show the details directly.
            self._show(start)
        elif self.dashboard.follow:
            self._follow()
        selected = tree.selected_key
        if selected is not None:
            changed = {a.id for a in diff.changed} | {a.id for a in diff.added}
            if selected in changed:
                self.query_one(Details).reload()
            elif is_group_key(selected) and selected in diff.groups:
                self._show(selected)
        self.query_one(LogView).poll()

    def _show_header(self) -> None:
        assert self.model is not None and self.record is not None
        self.query_one(RunHeader).show(
            self.record,
            self.model.counts,
            follow=self.dashboard.follow,
            root=self.model.actions.get("a0"),
        )

    def _first_failure(self) -> str | None:
        """The failed action where the error started (a failed action with no failed child)."""
        assert self.model is not None
        failed = [
            a for a in self.model.actions.values() if a.phase in (Phase.FAILED, Phase.TIMED_OUT)
        ]
        parents = {a.parent for a in failed}
        origins = [a for a in failed if a.id not in parents]
        if not origins:
            return None
        return min(origins, key=lambda a: a.ended_at or 0.0).id

    def _follow(self) -> None:
        assert self.model is not None
        newest = self.model.newest_running()
        if (
            newest is not None
            and newest.id != self._followed
            and self.query_one(ActionTree).move_to(newest.id)
        ):
            self._followed = newest.id

    def _follow_changed(self) -> None:
        self.query_one(LogView).follow = self.dashboard.follow
        if self.record is not None and self.model is not None:
            self._show_header()
        if self.dashboard.follow:
            self.reload()

    def _tick(self) -> None:
        if not self.is_current or self.record is None or self.model is None:
            return
        if not self.record.phase.is_terminal:
            # One clock for the three places a running action's duration shows.
            self.query_one(ActionTree).tick()
            self._show_header()
            self.query_one(Details).tick()

    # -- selection -----------------------------------------------------------------

    def _describe(self, action_id: str | None) -> str:
        if action_id is None or self.model is None:
            return ""
        action = self.model.actions.get(action_id)
        if action is None:
            return action_id
        preview = _format.inputs_preview(action.inputs_json, width=20)
        return _format.short_task(action.name) + (f"({preview})" if preview else "")

    def _with_traces(self, action_id: str) -> list[str]:
        """`action_id` and the trace checkpoints under it (traces nest in traces)."""
        if self.model is None:
            return [action_id]
        found = [action_id]
        for key in found:  # grows while iterating: a breadth-first walk
            for child in self.model.children.get(key, ()):
                record = self.model.actions.get(child)
                if record is not None and record.kind is ActionKind.TRACE:
                    found.append(child)
        return found

    def on_action_tree_highlighted(self, event: ActionTree.Highlighted) -> None:
        self._show(event.key)

    def _show(self, key: str) -> None:
        if self.model is None:
            return
        details = self.query_one(Details)
        if is_group_key(key):
            details.show_group(RunActions.group_name(key), self.model.group_counts(key))
        else:
            details.target = (self.model.run, key)
            if not self.whole_run_logs:
                self.query_one(LogView).target = (self.model.run, key)

    # -- actions -------------------------------------------------------------------

    def action_back(self) -> None:
        """Back to the run list (always beneath: the app pushes it first)."""
        self.app.pop_screen()

    def action_toggle_logs(self) -> None:
        """Give the logs the whole width (again: back to tree and details)."""
        self._logs_open = not self._logs_open
        self.set_class(self._logs_open, "-logs-open")
        if self._logs_open:
            self.set_focus(self.query_one("#log-lines"))
        else:
            self.set_focus(self.query_one(ActionTree))

    def action_toggle_scope(self) -> None:
        """Switch the logs between the selected action and the whole run."""
        if self.model is None:
            return
        self.whole_run_logs = not self.whole_run_logs
        selected = self.query_one(ActionTree).selected_key
        logs = self.query_one(LogView)
        if self.whole_run_logs or selected is None or is_group_key(selected):
            logs.target = (self.model.run, None)
        else:
            logs.target = (self.model.run, selected)

    def action_search(self) -> None:
        """Search the log lines shown (in the search box, `/` is just a character)."""
        focused = self.focused
        if isinstance(focused, Input):
            focused.insert_text_at_cursor("/")
            return
        self.query_one(LogView).open_search()

    def action_expand(self) -> None:
        """Show inputs and outputs in full (again: truncated)."""
        details = self.query_one(Details)
        details.expanded = not details.expanded

    def action_open_report(self) -> None:
        """Open the selected action's HTML report (a task with report=True) in a browser."""
        selected = self.query_one(ActionTree).selected_key
        if self.model is None or selected is None or is_group_key(selected):
            self.notify("select an action that has a report (marked 'report' in the tree)")
            return
        self._open_report(self.model.run, selected)

    @work(thread=True, exclusive=True, group="report")
    def _open_report(self, run: str, action_id: str) -> None:
        import webbrowser

        from flyte._store import flyte_home
        from flyte.report import render

        try:
            found = self.dashboard.feed.store.get_report(run, action_id)
            if found is None:
                self.app.call_from_thread(self.notify, f"action {action_id} has no report")
                return
            path = flyte_home() / "reports" / f"{run}-{action_id}.html"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render(found.tabs, title=f"{run} {action_id}"), encoding="utf-8")
        except (FlyteError, OSError) as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
            return
        webbrowser.open(path.as_uri())
        self.app.call_from_thread(self.notify, f"report written to {path}")
