"""RunScreen: one run's live action tree, the selected action's details, and logs."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input
from textual.worker import get_current_worker

from flyte._models import Phase
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
"""At most this share of a core goes to reading every action of a run whose changes the
cheap read (`RunFeed.changed_actions`) cannot explain: after a full read (and applying
it) that took T of CPU, the next waits T * (1 / share - 1)."""

_CHANGES_SHARE = 0.1
"""At most about this share of a core goes to reading and drawing the changes of a busy
run: the next read waits 2 T * (1 / share - 1) after one (applied) that took T of CPU.
A small run's changes show at once, a busy 5,000-action run's a few times a second."""

_CHECK_SHARE = 0.02
"""At most this share of a core goes to the fingerprint (`RunFeed.actions_version`) of a
run whose driver beats its heartbeat: 6 ms on a 5,000-action run (not paced at one beat
a second), 50 ms on a 100,000-action one (checked every 2.5 s)."""

_FULL_SHARE = 0.05
"""Changes are read in full, to be sure, once T * (1 / share - 1) has passed since the
last full read (the cheap read does not look at actions that already ended)."""


@dataclass(frozen=True, kw_only=True)
class _Read:
    """What one read of a run's actions found (made in a worker, applied on the UI)."""

    actions: list[ActionRecord] | None = None
    """None: nothing to apply."""
    partial: bool = False
    """Only new and changed actions (else every action of the run)."""
    cursor: int | None = None
    version: tuple[Any, ...] | None = None
    cost: float = 0.0
    """CPU seconds the read took."""
    wait: float = 0.0
    """Seconds until the read may be made (a change is waiting)."""
    failed: bool = False
    """The store could not be read (the user was told): nothing is known."""


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

    class Loaded(Message):
        """A read of the run finished (posted by the loading worker to its own screen)."""

        bubble = False

        def __init__(self, name: str | None, record: RunRecord | None, read: _Read) -> None:
            super().__init__()
            self.name = name
            self.record = record
            self.read = read

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
        self._cursor: int | None = None
        """The highest action row read (`RunFeed.changed_actions` goes on from it)."""
        self._next_full = 0.0
        """When (monotonic) every action may be read again (see _READ_SHARE)."""
        self._full_due = 0.0
        """When (monotonic) a change is read in full again, to be sure (_FULL_SHARE)."""
        self._next_read = 0.0
        """When (monotonic) changes may be read again (see _CHANGES_SHARE)."""
        self._next_check = 0.0
        """When (monotonic) the fingerprint may be read again (see _CHECK_SHARE)."""
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
        # "Waiting for the run to appear" only once a read did not find it: opening a
        # big run that is there takes a moment, and must not say it is missing.
        self.query_one(RunHeader).reading(self.run_name)
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
        # What the worker may ask the store about, copied here, where the model changes.
        live = dict(self.model.live) if self.model is not None else {}
        self._load(self.run_name, live, self._cursor)

    @work(thread=True, exclusive=True, group="run")
    def _load(self, name: str | None, live: dict[str, str], cursor: int | None) -> None:
        worker = get_current_worker()
        feed = self.dashboard.feed
        record: RunRecord | None = None
        read = _Read()
        try:
            newest = feed.newest_run() if name is None or self._follows_latest() else None
            if newest is not None and (name is None or newest.created_at > self._created_at()):
                name = newest.name
            record = feed.run(name) if name is not None else None
            if record is not None and name is not None:
                read = self._read(name, record, live, cursor)
        except FlyteError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
            record = None  # keep what is shown: a failed read is not an empty run
            read = _Read(failed=True)
        if not worker.is_cancelled:
            # A message to this screen, not a call on the app: the read can finish while
            # the screen is being removed (popped, or the app exiting), after its widgets
            # went and before its workers are cancelled. The screen's queue is closed by
            # then, so the result is dropped instead of querying a tree that is gone.
            self.post_message(self.Loaded(name, record, read))

    def _read(
        self, name: str, record: RunRecord, live: dict[str, str], cursor: int | None
    ) -> _Read:
        """Read what changed in run `name`'s actions since the last read (worker thread).

        Nothing when their fingerprint did not move (the driver's heartbeat, a write to
        another run); else the new and changed unfinished actions; every action on the
        first read, when the run ended or its driver died, when the cheap read explains
        nothing (an ended action changed), and now and then to be sure (_FULL_SHARE).
        """
        feed = self.dashboard.feed
        shown = self.record
        same_run = (
            self._shows(name)
            and shown is not None
            # A run whose driver died reads ABORTED, and its running actions with it.
            and (shown.phase, shown.interrupted) == (record.phase, record.interrupted)
        )
        now = time.monotonic()
        if same_run and now < self._next_check:
            return _Read(wait=self._next_check - now)  # a big run: see _CHECK_SHARE
        # Read before the actions: a change made meanwhile moves it again.
        started = time.thread_time()
        version = feed.actions_version(name)
        self._next_check = now + (time.thread_time() - started) * (1 / _CHECK_SHARE - 1)
        if same_run and version is not None and version == self._version:
            return _Read(version=version)
        if same_run and now < self._next_read:
            return _Read(wait=self._next_read - now)  # a busy run: see _CHANGES_SHARE
        if same_run and cursor is not None and now < self._full_due:
            started = time.thread_time()
            found = feed.changed_actions(name, after=cursor, live=live)
            if found is not None and found[0]:
                return _Read(
                    actions=found[0],
                    partial=True,
                    cursor=found[1],
                    version=version,
                    cost=time.thread_time() - started,
                )
        if same_run and now < self._next_full:
            return _Read(wait=self._next_full - now)  # read once the pause is over
        started = time.thread_time()
        cursor = feed.action_cursor(name)  # first: what is added meanwhile is read again
        actions = feed.actions(name)
        return _Read(
            actions=actions,
            cursor=cursor,
            version=version,
            cost=time.thread_time() - started,
        )

    def _shows(self, name: str) -> bool:
        return self.model is not None and self.model.run == name

    def _follows_latest(self) -> bool:
        return self.dashboard.follow_latest and self.dashboard.follow

    def _created_at(self) -> float:
        return self.record.created_at if self.record is not None else 0.0

    def on_run_screen_loaded(self, event: Loaded) -> None:
        self._loaded(event.name, event.record, event.read)

    def _loaded(self, name: str | None, record: RunRecord | None, read: _Read) -> None:
        self._loading = False
        if record is None and self.record is None and not read.failed:
            self.query_one(RunHeader).waiting(self.run_name)
        if record is not None and name is not None:
            if self.model is None or self.model.run != name:
                self._switch_to(name)
            assert self.model is not None
            self.record = record
            if read.actions is not None:
                started = time.thread_time()
                diff = self.model.update(read.actions, partial=read.partial)
                # The read and the diff: what the next read of this run costs again (the
                # first read also builds the tree, once).
                cost = read.cost + time.thread_time() - started
                self._apply(diff, first=not self._placed_cursor)
                self._version, self._cursor = read.version, read.cursor
                now = time.monotonic()
                if read.partial:
                    # Drawing what changed costs about as much again as reading it.
                    self._next_read = now + 2 * cost * (1 / _CHANGES_SHARE - 1)
                else:
                    self._next_full = now + cost * (1 / _READ_SHARE - 1)
                    self._full_due = now + cost * (1 / _FULL_SHARE - 1)
            else:
                self._show_header()
                if self.dashboard.follow and self._placed_cursor:
                    self._follow()  # a move the tree could not show last time
            if read.wait > 0 and self._pending is None:
                self._pending = self.set_timer(read.wait, self._reload_pending)
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
        self._version = self._cursor = None
        self._next_read = self._next_full = self._full_due = self._next_check = 0.0
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
            found += self.model.trace_children.get(key, ())
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
