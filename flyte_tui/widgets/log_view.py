"""LogView: an action's (or a whole run's) log lines, following while the run goes on."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from rich.highlighter import Highlighter
from rich.style import Style
from textual import work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import var
from textual.widgets import Input, Log, Static
from textual.worker import get_current_worker

from flyte._present import plural
from flyte._store.logs import printable
from flyte.errors import FlyteError
from flyte_tui import _format

if TYPE_CHECKING:
    from rich.text import Text

    from flyte._models import LogLine
    from flyte_tui.data import RunFeed

__all__ = ["LogView", "LogTarget"]

LogTarget = tuple[str, str | None]
"""(run name, action id) — or (run name, None) for the whole run."""

FIRST_LOAD = 5_000
"""Lines read when a target is first shown (the newest ones); later reads are increments."""

MAX_LINES = 50_000
"""Lines kept per target; older ones are dropped as new ones arrive."""

_STDERR = "!"


class _LogHighlighter(Highlighter):
    """Dims the time column, colours stderr lines, highlights the search term."""

    def __init__(self) -> None:
        self.term = ""
        self.dim = Style(dim=True)
        self.stderr = Style(color="red")
        self.match = Style(reverse=True, bold=True)

    def highlight(self, text: Text) -> None:
        text.stylize(self.dim, 0, 9)
        if text.plain[9:11] == f"{_STDERR} ":
            text.stylize(self.stderr, 9)
        if self.term:
            for found in re.finditer(re.escape(self.term), text.plain, re.IGNORECASE):
                text.stylize(self.match, found.start(), found.end())


class LogView(Vertical):
    """Shows the log lines of `target`; `poll()` appends new ones, `search` filters.

    Example:
        logs = LogView(feed, id="logs")
        logs.target = (run_name, action_id)   # or (run_name, None) for the whole run
        logs.poll()                           # after the store's change counter moved
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close_search", "Close search", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "log-view--stderr",
        "log-view--match",
        "log-view--time",
    }

    target: var[LogTarget | None] = var(None)
    """Whose logs to show; setting it reloads."""

    search: var[str] = var("")
    """Show only lines containing this text (case-insensitive), highlighted."""

    follow: var[bool] = var(False)
    """Always scroll to new lines; otherwise only when already at the bottom."""

    def __init__(self, feed: RunFeed, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.feed = feed
        self.describe: Callable[[str | None], str] = lambda action: action or ""
        """Names an action for the log's `who` column (set by the screen)."""
        self.members: Callable[[str], list[str]] = lambda action: [action]
        """An action's own id plus its trace checkpoints' ids: a task's logs include
        what its traces printed (set by the screen)."""
        self._lines: list[LogLine] = []
        self._last_seq = 0
        self._loading = False
        self._dirty = False
        self._highlighter = _LogHighlighter()
        self._shown_title = ""

    def compose(self) -> ComposeResult:
        yield Static("Logs", id="log-title")
        yield Input(placeholder="search logs (esc clears)", id="log-search")
        log = Log(highlight=True, max_lines=MAX_LINES, auto_scroll=False, id="log-lines")
        log.highlighter = self._highlighter
        yield log

    def on_mount(self) -> None:
        self.query_one("#log-search", Input).display = False
        self._highlighter.dim = self.get_component_rich_style("log-view--time", partial=True)
        self._highlighter.stderr = self.get_component_rich_style("log-view--stderr", partial=True)
        self._highlighter.match = self.get_component_rich_style("log-view--match", partial=True)
        self._title()

    @property
    def lines(self) -> list[LogLine]:
        """Every line read so far for the current target (before the search filter)."""
        return self._lines

    @property
    def shown(self) -> list[str]:
        """The text of the lines on screen (after the search filter)."""
        return list(self.query_one("#log-lines", Log).lines)

    # -- reactives -----------------------------------------------------------------

    def watch_target(self, old: LogTarget | None, new: LogTarget | None) -> None:
        if old == new:
            return
        self._lines = []
        self._last_seq = 0
        self.query_one("#log-lines", Log).clear()
        self._title()
        self.poll()

    def watch_search(self, term: str) -> None:
        self._highlighter.term = term
        log = self.query_one("#log-lines", Log)
        log.clear()
        log.write_lines(self._format_lines(self._lines), scroll_end=True)
        self._title()

    # -- loading -------------------------------------------------------------------

    def poll(self) -> None:
        """Read lines newer than the last one shown (in a worker; coalesces calls)."""
        if self.target is None:
            return
        if self._loading:
            self._dirty = True
            return
        self._loading = True
        action = self.target[1]
        ids: list[str | None] = [None] if action is None else list(self.members(action))
        self._load(self.target, ids, self._last_seq)

    @work(thread=True, exclusive=True, group="logs")
    def _load(self, target: LogTarget, ids: list[str | None], after: int) -> None:
        worker = get_current_worker()
        limit = FIRST_LOAD if after == 0 else None
        try:
            lines: list[LogLine] = []
            for action in ids:
                lines += self.feed.logs(target[0], action, after=after, limit=limit)
            if len(ids) > 1:
                lines.sort(key=lambda line: line.seq)
                lines = lines[-limit:] if limit else lines
        except FlyteError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
            lines = []
        if not worker.is_cancelled:
            # Posted to this widget, not called on the app: a read finishing while the
            # widget is removed is dropped with its closed queue (see RunScreen.Loaded).
            self.post_message(self.Loaded(target, lines))

    class Loaded(Message):
        """A read of the logs finished (posted by the loading worker to its widget)."""

        bubble = False

        def __init__(self, key: LogTarget, lines: list[LogLine]) -> None:
            super().__init__()
            self.key = key
            self.lines = lines

    def on_log_view_loaded(self, event: Loaded) -> None:
        self._loaded(event.key, event.lines)

    def _loaded(self, target: LogTarget, lines: list[LogLine]) -> None:
        self._loading = False
        if target == self.target and lines and lines[-1].seq > self._last_seq:
            lines = [line for line in lines if line.seq > self._last_seq]
            self._lines.extend(lines)
            del self._lines[:-MAX_LINES]
            self._last_seq = lines[-1].seq
            log = self.query_one("#log-lines", Log)
            at_end = log.is_vertical_scroll_end or log.max_scroll_y == 0
            log.write_lines(self._format_lines(lines), scroll_end=self.follow or at_end)
            self._title()
        if self._dirty or target != self.target:
            self._dirty = False
            self.poll()

    def _format_lines(self, lines: list[LogLine]) -> list[str]:
        own = self.target[1] if self.target is not None else None
        term = self.search.lower()
        out: list[str] = []
        for line in lines:
            if term and term not in line.line.lower():
                continue
            tag = _STDERR if line.stream == "stderr" else " "
            who = f"{self.describe(line.action)[:16]:<16} │ " if line.action != own else ""
            text = printable(line.line)  # escapes shown, never obeyed; huge lines cut
            out.append(f"{_format.time_of_day(line.ts)} {tag} {who}{text}")
        return out

    def _title(self) -> None:
        if self.target is None:
            text = "Logs"
        else:
            run, action = self.target
            scope = f"{self.describe(action)}" if action else f"run {run} (all actions)"
            text = f"Logs · {scope} · {plural(len(self._lines), 'line')}"
            if self.search:
                found = len(self.shown)
                text += f" · {found} {'match' if found == 1 else 'matches'} {self.search!r}"
        if text != self._shown_title:  # an update lays the screen out again
            self._shown_title = text
            self.query_one("#log-title", Static).update(text)

    # -- search --------------------------------------------------------------------

    def open_search(self) -> None:
        """Show the search box and focus it."""
        box = self.query_one("#log-search", Input)
        box.display = True
        self.screen.set_focus(box)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.search = event.value

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.screen.set_focus(self.query_one("#log-lines", Log))

    def action_close_search(self) -> None:
        """Clear and hide the search box; otherwise let escape reach the screen."""
        box = self.query_one("#log-search", Input)
        if not box.display:
            raise SkipAction()
        box.value = ""
        box.display = False
        self.screen.set_focus(self.query_one("#log-lines", Log))
