"""Details: everything recorded about the selected action.

Inputs and outputs (pretty, truncated until expanded), the error with the user's
traceback, cache status with the key parts and why it missed, settings (resources, env
vars, retries, timeout, ...) and every attempt with its timing.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any, ClassVar

from rich.console import Console, Group, RenderableType
from rich.pretty import Pretty
from rich.style import Style
from rich.syntax import Syntax
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.reactive import var
from textual.widgets import Static
from textual.worker import get_current_worker

from flyte._models import ActionKind, CacheStatus
from flyte._present import plural
from flyte.errors import FlyteError
from flyte_tui import _format

if TYPE_CHECKING:
    from flyte._models import ActionRecord
    from flyte_tui.data import ActionDetails, Counts, RunFeed

__all__ = ["Details", "DetailsTarget"]

DetailsTarget = tuple[str, str]
"""(run name, action id)."""

MAX_ITEMS = 6
MAX_STRING = 60
MAX_DEPTH = 3
"""Until the user expands values, containers show MAX_ITEMS items, strings MAX_STRING
characters and MAX_DEPTH levels."""


def _is_big(value: Any, depth: int = 1) -> bool:
    """Whether the truncated view of `value` would hide something."""
    if isinstance(value, str):
        return len(value) > MAX_STRING
    if isinstance(value, dict | list):
        if depth > MAX_DEPTH or len(value) > MAX_ITEMS:
            return True
        items = value.values() if isinstance(value, dict) else value
        return any(_is_big(item, depth + 1) for item in items)
    return False


class Details(VerticalScroll):
    """The details pane; set `target` to show an action, `show_group` for a group.

    Example:
        details = Details(feed, id="details")
        details.target = (run_name, action_id)
        details.expanded = True   # show inputs/outputs in full
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "details--title",
        "details--section",
        "details--dim",
        "details--error",
        "details--good",
        "details--warn",
        "details--queued",
        "details--running",
        "details--succeeded",
        "details--failed",
        "details--timed-out",
        "details--aborted",
    }

    target: var[DetailsTarget | None] = var(None)
    """The action shown; setting it (re)loads."""

    expanded: var[bool] = var(False)
    """Show inputs and outputs in full instead of truncated."""

    def __init__(self, feed: RunFeed, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.feed = feed
        self.data: ActionDetails | None = None
        self.shown: RenderableType = ""

    def compose(self) -> ComposeResult:
        yield Static("Select an action to see its details.", id="details-body")

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"details--{name}", partial=True)

    # -- loading -------------------------------------------------------------------

    def watch_target(self, old: DetailsTarget | None, new: DetailsTarget | None) -> None:
        if new is not None and new != old:
            self.reload()

    def watch_expanded(self) -> None:
        if self.data is not None:
            self._render_details(self.data)

    def reload(self) -> None:
        """Read the target again (after the store changed)."""
        if self.target is not None:
            self._load(self.target)

    @work(thread=True, exclusive=True, group="details")
    def _load(self, target: DetailsTarget) -> None:
        worker = get_current_worker()
        try:
            found = self.feed.details(*target)
        except FlyteError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
            return
        if not worker.is_cancelled:
            # Posted to this widget, not called on the app: a read finishing while the
            # widget is removed is dropped with its closed queue (see RunScreen.Loaded).
            self.post_message(self.Loaded(target, found))

    class Loaded(Message):
        """A read of the details finished (posted by the loading worker to its widget)."""

        bubble = False

        def __init__(self, key: DetailsTarget, found: ActionDetails | None) -> None:
            super().__init__()
            self.key = key
            self.found = found

    def on_details_loaded(self, event: Loaded) -> None:
        self._loaded(event.key, event.found)

    def _loaded(self, target: DetailsTarget, found: ActionDetails | None) -> None:
        if target != self.target:
            return  # a stale read: the user moved on
        self.data = found
        if found is None:
            self._body(Text(f"Action {target[1]} is not recorded (yet).", style=self._style("dim")))
        else:
            self._render_details(found)

    def tick(self) -> None:
        """Re-render a running action, whose duration grows with the clock."""
        if self.data is not None and not self.data.action.phase.is_terminal:
            # Only the duration moved: its line keeps its place, no new layout (the
            # costly part of a refresh) every second.
            self._render_details(self.data, layout=False)

    def show_group(self, name: str, counts: Counts) -> None:
        """Show a summary of group `name` instead of an action."""
        self.target = None
        self.data = None
        text = Text()
        text.append(f"Group {name}\n", self._style("title"))
        text.append(
            f"{plural(counts.total, 'action')} · {counts.done} done · {counts.running} running · "
            f"{counts.queued} queued · {counts.failed} failed · {counts.cached} cached",
            self._style("dim"),
        )
        self._body(text)

    def _body(self, renderable: RenderableType, *, layout: bool = True) -> None:
        self.shown = renderable
        self.query_one("#details-body", Static).update(renderable, layout=layout)

    def plain(self, width: int = 100) -> str:
        """The pane's content as plain text (for tests and copying)."""
        console = Console(width=width, color_system=None, record=True, file=io.StringIO())
        console.print(self.shown)
        return console.export_text()

    # -- rendering -----------------------------------------------------------------

    def _render_details(self, found: ActionDetails, *, layout: bool = True) -> None:
        action = found.action
        parts: list[RenderableType] = [self._header(action)]
        parts += self._values("Inputs", _format.parse_json(action.inputs_json))
        if action.outputs_json is not None:
            parts += self._values("Outputs", _format.parse_json(action.outputs_json))
        if action.error_type or action.error_message:
            parts += self._error(action)
        parts += self._attempts(found)
        if action.kind is ActionKind.TASK:
            parts += self._cache(found)
            parts += self._settings(action.settings)
        self._body(Group(*parts), layout=layout)

    def _section(self, title: str, hint: str = "") -> Text:
        text = Text(f"\n{title}", style=self._style("section"))
        if hint:
            text.append(f"  {hint}", self._style("dim"))
        return text

    def _header(self, action: ActionRecord) -> Text:
        phase_style = self._style(_format.phase_class(action.phase))
        text = Text()
        kind = " (trace)" if action.kind is ActionKind.TRACE else ""
        text.append(f"{action.name}{kind}\n", self._style("title"))
        text.append(f"{_format.PHASE_ICONS[action.phase]} {action.phase.value}", phase_style)
        took = _format.duration(_format.elapsed(action.started_at, action.ended_at))
        facts = [f"id {action.id}"]
        if action.group:
            facts.append(f"group {action.group}")
        if action.started_at is not None:
            facts.append(f"started {_format.clock(action.started_at)}")
        if took:
            facts.append(f"took {took}")
        if action.recovered:
            facts.append(
                "replayed from an earlier attempt" if kind else "recovered from an earlier run"
            )
        text.append("  " + " · ".join(facts), self._style("dim"))
        return text

    def _values(self, title: str, value: Any) -> list[RenderableType]:
        big = _is_big(value)
        hint = "(e: collapse)" if big and self.expanded else "(e: show all)" if big else ""
        if big and not self.expanded:
            shown: RenderableType = Pretty(
                value, max_length=MAX_ITEMS, max_string=MAX_STRING, max_depth=MAX_DEPTH
            )
        else:
            shown = Pretty(value)
        return [self._section(title, hint), shown]

    def _error(self, action: ActionRecord) -> list[RenderableType]:
        out: list[RenderableType] = [self._section("Error")]
        out.append(Text(f"{action.error_type}: {action.error_message}", style=self._style("error")))
        if action.traceback:
            out.append(
                Syntax(
                    action.traceback.rstrip(),
                    "pytb",
                    theme="ansi_dark",
                    word_wrap=True,
                    background_color="default",
                )
            )
        return out

    def _cache(self, found: ActionDetails) -> list[RenderableType]:
        action = found.action
        status = action.cache_status
        if status is CacheStatus.DISABLED:
            return [self._section("Cache", "disabled")]
        label = {
            CacheStatus.HIT: ("hit: outputs reused, body not run", "good"),
            CacheStatus.MISS: ("miss", "warn"),
            CacheStatus.WRITTEN: ("miss: ran and saved the outputs", "warn"),
        }[status]
        text = Text(label[0], style=self._style(label[1]))
        if action.cache_key:
            text.append(f"\nkey {action.cache_key}", self._style("dim"))
        for name, value in sorted((found.cache_parts or {}).items()):
            shown = value if isinstance(value, str) else json.dumps(value, default=str)
            text.append(f"\n  {name}: {shown[:72]}", self._style("dim"))
        if status is not CacheStatus.HIT and found.cache_explanation:
            text.append("\nwhy: ", self._style("warn"))
            text.append("; ".join(found.cache_reasons) or found.cache_explanation)
        return [self._section("Cache"), text]

    def _settings(self, settings: dict[str, Any]) -> list[RenderableType]:
        if not settings:
            return []
        lines: list[str] = []
        if settings.get("env"):
            lines.append(f"environment  {settings['env']}")
        resources = settings.get("resources") or {}
        if resources:
            lines.append(
                "resources    "
                + ", ".join(f"{k}={v}" for k, v in resources.items() if v is not None)
            )
        lines.append(f"retries      {settings.get('retries') or 0}")
        timeout = settings.get("timeout")
        lines.append(f"timeout      {_format.duration(timeout) if timeout else 'none'}")
        cache = settings.get("cache") or {}
        if isinstance(cache, dict) and cache.get("behavior"):
            lines.append(f"cache        {cache['behavior']}")
        env_vars = settings.get("env_vars") or {}
        if env_vars:
            lines.append("env vars     " + ", ".join(f"{k}={v}" for k, v in env_vars.items()))
        secrets = settings.get("secrets") or []
        if secrets:
            lines.append("secrets      " + ", ".join(map(str, secrets)))
        if settings.get("reusable"):
            lines.append(f"reusable     {settings['reusable']}")
        if settings.get("image") not in (None, "auto"):
            lines.append(f"image        {settings['image']}")
        return [self._section("Settings"), Text("\n".join(lines), style=self._style("dim"))]

    def _attempts(self, found: ActionDetails) -> list[RenderableType]:
        if not found.attempts:
            return []
        text = Text()
        for i, attempt in enumerate(found.attempts):
            if i:
                text.append("\n")
            took = _format.duration(_format.elapsed(attempt.started_at, attempt.ended_at))
            style = self._style(_format.phase_class(attempt.phase))
            text.append(f"#{attempt.attempt} ", self._style("dim"))
            text.append(f"{_format.PHASE_ICONS[attempt.phase]} {attempt.phase.value:<9}", style)
            text.append(f" {_format.clock(attempt.started_at)}  {took:>6}", self._style("dim"))
            if attempt.where and attempt.where != "inline":
                text.append(f"  {attempt.where}", self._style("dim"))
            if attempt.error_type:
                text.append(
                    f"  {attempt.error_type}: {attempt.error_message}", self._style("error")
                )
        return [self._section("Attempts"), text]
