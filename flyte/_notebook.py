"""Notebook support: a Run renders as HTML, and a run shows live progress in its cell.

`flyte.run(...)` and `await flyte.run.aio(...)` work inside Jupyter's running event loop
because the engine runs on its own loop thread; this module only adds what a notebook
user sees: `Run._repr_html_` (phase, action tree, outputs, durations) and a progress
line, updated in place in the cell while the run executes (IPython's `display_id`).
Nothing here imports IPython unless a kernel is already running it.
"""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flyte._models import ActionRecord, RunRecord
    from flyte._run import Run

__all__ = ["in_notebook", "progress_html", "run_html", "wait_with_progress"]

_ICONS = {
    "QUEUED": "◌",
    "RUNNING": "▶",
    "SUCCEEDED": "✔",
    "FAILED": "✘",
    "TIMED_OUT": "⏱",
    "ABORTED": "■",
}
_COLORS = {
    "SUCCEEDED": "#2e7d32",
    "FAILED": "#c62828",
    "TIMED_OUT": "#c62828",
    "ABORTED": "#6d4c41",
    "RUNNING": "#1565c0",
    "QUEUED": "#757575",
}
_MAX_ROWS = 200  # a 10,000-action run shows its first rows and a count, not a huge table
_UPDATE_EVERY = 0.25


def _escape(text: str) -> str:
    import html  # not at import: every run checks `in_notebook`; only a notebook renders

    return html.escape(text)


def in_notebook() -> bool:
    """Whether this code runs in a Jupyter kernel (IPython with a kernel attached)."""
    ipython = sys.modules.get("IPython")
    if ipython is None or "ipykernel" not in sys.modules:
        return False
    shell = ipython.get_ipython()  # type: ignore[attr-defined]
    return shell is not None and getattr(shell, "kernel", None) is not None


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


def _phase(phase: str) -> str:
    color = _COLORS.get(phase, "#333")
    icon = _ICONS.get(phase, "")
    return f'<span style="color:{color};font-weight:600">{icon} {_escape(phase)}</span>'


def _short(text: str | None, width: int = 80) -> str:
    if text is None:
        return ""
    return _escape(text if len(text) <= width else text[: width - 1] + "…")


def _depths(actions: list[ActionRecord]) -> dict[str, int]:
    parents = {a.id: a.parent for a in actions}
    depth: dict[str, int] = {}
    for a in actions:
        d, p = 0, a.parent
        while p is not None and d < 64:
            d += 1
            p = parents.get(p)
        depth[a.id] = d
    return depth


def _tree(actions: list[ActionRecord]) -> str:
    """The action tree as table rows in depth-first order, children under their parent."""
    children: dict[str | None, list[ActionRecord]] = {}
    for a in actions:
        children.setdefault(a.parent, []).append(a)
    depth = _depths(actions)
    rows: list[str] = []
    stack = list(reversed(children.get(None, [])))
    while stack and len(rows) < _MAX_ROWS:
        a = stack.pop()
        stack.extend(reversed(children.get(a.id, [])))
        marks = []
        if a.kind.value == "trace":
            marks.append("trace")
        if a.cache_status.value == "hit":
            marks.append("⚡ cache hit")
        if a.recovered:
            marks.append("⟲ recovered")
        if a.attempts > 1:
            marks.append(f"{a.attempts} attempts")
        if a.settings.get("report"):
            marks.append("▣ report")
        indent = "&nbsp;" * 4 * depth[a.id]
        out = a.outputs_json if a.error_type is None else f"{a.error_type}: {a.error_message}"
        rows.append(
            "<tr>"
            f"<td style='text-align:left'>{indent}{_escape(a.name.rsplit('.', 1)[-1])}"
            f" <code style='color:#888'>{_escape(a.id)}</code></td>"
            f"<td style='text-align:left'>{_phase(a.phase.value)}</td>"
            f"<td style='text-align:right'>{_duration(a.duration)}</td>"
            f"<td style='text-align:left'>{_escape(', '.join(marks))}</td>"
            f"<td style='text-align:left'><code>{_short(out)}</code></td>"
            "</tr>"
        )
    more = len(actions) - len(rows)
    if more > 0:
        rows.append(f"<tr><td colspan=5>… {more} more actions</td></tr>")
    return "".join(rows)


def run_html(record: RunRecord, actions: list[ActionRecord]) -> str:
    """A run as an HTML block: name, phase, duration, outputs or error, and the action tree."""
    if record.error_type:
        result = (
            f"<b>error</b> <code>{_escape(record.error_type)}: "
            f"{_short(record.error_message, 300)}</code>"
        )
    else:
        outputs = record.outputs_json
        shown = outputs if outputs is None else json.dumps(json.loads(outputs), default=str)
        result = f"<b>outputs</b> <code>{_short(shown, 300)}</code>"
    stats = f"{record.action_count} actions"
    if record.cache_hits:
        stats += f", {record.cache_hits} cache hits"
    return (
        '<div class="flyte-run" style="font-family:sans-serif;font-size:13px">'
        f"<div><b>Run</b> <code>{_escape(record.name)}</code> · "
        f"<code>{_escape(record.task)}</code> · {_phase(record.phase.value)} · "
        f"{_duration(record.duration)} · {stats}</div>"
        f"<div style='margin:4px 0'>{result}</div>"
        "<table style='border-collapse:collapse;font-size:12px'>"
        "<tr><th style='text-align:left'>action</th><th style='text-align:left'>phase</th>"
        "<th>duration</th><th style='text-align:left'>notes</th>"
        "<th style='text-align:left'>outputs / error</th></tr>"
        f"{_tree(actions)}</table></div>"
    )


def progress_html(run: Run) -> str:
    """One line: run name, phase, and how many actions are done, running, failed."""
    actions = run.actions()
    done = sum(1 for a in actions if a.phase.is_terminal)
    running = sum(1 for a in actions if a.phase.value == "RUNNING")
    failed = sum(1 for a in actions if a.phase.value in ("FAILED", "TIMED_OUT"))
    phase = run.phase.value
    return (
        f'<div class="flyte-progress" style="font-family:sans-serif;font-size:13px">'
        f"<b>Run</b> <code>{_escape(run.name)}</code> {_phase(phase)} · "
        f"{done}/{len(actions)} actions done · {running} running"
        + (f" · {failed} failed" if failed else "")
        + "</div>"
    )


class _Progress:
    """A progress line shown in the cell and replaced in place (IPython display_id)."""

    def __init__(self, run: Run) -> None:
        from IPython.display import HTML, display

        self._html = HTML
        self._run = run
        self._last = 0.0
        self._handle: Any = display(HTML(progress_html(run)), display_id=True)

    def update(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < _UPDATE_EVERY:
            return
        self._last = now
        if self._handle is not None:
            self._handle.update(self._html(progress_html(self._run)))


def wait_with_progress(run: Run) -> None:
    """Wait for `run` in a notebook cell, updating a progress line as it goes."""
    progress = _Progress(run)
    try:
        while not run.done():
            run.wait(timeout=_UPDATE_EVERY)
            progress.update()
    finally:
        run.wait(timeout=0)
        progress.update(force=True)


async def await_with_progress(run: Run) -> None:
    """`wait_with_progress` for `await flyte.run.aio(...)`: yields to the cell's loop."""
    import asyncio

    assert run._future is not None
    progress = _Progress(run) if in_notebook() else None
    future = asyncio.wrap_future(run._future)
    try:
        while not future.done():
            await asyncio.wait({future}, timeout=_UPDATE_EVERY)
            if progress is not None:
                progress.update()
    except asyncio.CancelledError:
        run.abort()  # an interrupted cell stops its run, as Ctrl-C does for flyte.run
        raise
    finally:
        run._flush()
        if progress is not None:
            progress.update(force=True)
    future.result()
