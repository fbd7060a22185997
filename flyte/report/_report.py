"""The report of the running action: tabs of HTML, flushed to the run store."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flyte._aio import twin
from flyte._context import current_action

if TYPE_CHECKING:
    from flyte._context import ActionContext

__all__ = [
    "MAIN_TAB",
    "REPORT_TASKS",
    "Report",
    "Tab",
    "current_report",
    "finish_report",
    "flush",
    "get_tab",
]

MAIN_TAB = "main"

# Full names of tasks declared with report=True: only their actions keep a report.
REPORT_TASKS: set[str] = set()


@dataclass
class Tab:
    """One tab of a report: HTML fragments shown in order."""

    name: str
    content: list[str] = field(default_factory=list)

    def log(self, content: str) -> None:
        """Append an HTML fragment (not a whole document) to the tab."""
        if not isinstance(content, str):
            raise TypeError(f"report content must be an HTML string, got {type(content).__name__}")
        self.content.append(content)

    def replace(self, content: str) -> None:
        """Replace the tab's content with one HTML fragment."""
        self.content = []
        self.log(content)

    def get_html(self) -> str:
        return "\n".join(self.content)


@dataclass
class Report:
    """An action's report: named tabs, "main" first."""

    name: str
    tabs: dict[str, Tab] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tabs.setdefault(MAIN_TAB, Tab(MAIN_TAB))

    def get_tab(self, name: str, create_if_missing: bool = True) -> Tab:
        """The tab called `name`, created on first use.

        Raises:
            ValueError: the tab does not exist and `create_if_missing` is False.
        """
        if name not in self.tabs:
            if not create_if_missing:
                raise ValueError(f"Tab {name} does not exist.")
            self.tabs[name] = Tab(name)
        return self.tabs[name]

    def has_content(self) -> bool:
        return any(tab.content for tab in self.tabs.values())

    def to_tabs(self) -> dict[str, str]:
        """Tab name -> HTML, leaving out an empty "main" tab."""
        return {n: t.get_html() for n, t in self.tabs.items() if t.content or n != MAIN_TAB}

    def get_final_report(self) -> str:
        """The report as one self-contained HTML document."""
        from flyte.report._html import render

        return render(self.to_tabs(), title=self.name)


# Outside a task (or in a task without report=True) writes go to a scratch report that is
# never stored, so library code can log unconditionally, as upstream allows.
_scratch = Report("scratch")


def _report_of(action: ActionContext | None) -> Report | None:
    if action is None or action.in_trace or action.task_name not in REPORT_TASKS:
        return None
    reports = action.run.reports
    key = action.action_id
    found = reports.get(key)
    if found is None or found[0] != action.attempt:
        # A new attempt starts a fresh report, as a retried task re-logs from the start.
        found = reports[key] = (action.attempt, Report(action.task_name))
    return found[1]


def current_report() -> Report:
    """The report of the running action (a scratch report outside a task)."""
    return _report_of(current_action()) or _scratch


def get_tab(name: str, /, create_if_missing: bool = True) -> Tab:
    """A tab of the current report, created on first use."""
    return current_report().get_tab(name, create_if_missing=create_if_missing)


def _store(action: ActionContext, report: Report) -> None:
    action.run.writer.put(
        (
            "report_put",
            {
                "run": action.run.name,
                "action": action.action_id,
                "attempt": action.attempt,
                "tabs": report.to_tabs(),
                "ts": time.time(),
            },
        )
    )


def _flush() -> None:
    """Store the current action's report now (it is also stored when the action ends)."""
    action = current_action()
    report = _report_of(action)
    if action is not None and report is not None:
        _store(action, report)


def _log(content: str, do_flush: bool = False) -> None:
    """Append HTML to the main tab; `do_flush=True` stores the report at once."""
    get_tab(MAIN_TAB).log(content)
    if do_flush:
        _flush()


def _replace(content: str, do_flush: bool = False) -> None:
    """Replace the main tab's content; `do_flush=True` stores the report at once."""
    get_tab(MAIN_TAB).replace(content)
    if do_flush:
        _flush()


flush = twin(_flush)
log = twin(_log)
replace = twin(_replace)


def finish_report(action: ActionContext) -> None:
    """Store the report of an attempt that ends, if it logged anything (engine hook)."""
    found = action.run.reports.pop(action.action_id, None)
    if found is not None and found[0] == action.attempt and found[1].has_content():
        _store(action, found[1])
