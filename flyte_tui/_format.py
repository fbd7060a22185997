"""Text formatting shared by the widgets: the TUI's clock over `flyte._present`.

Icons, durations, labels and previews are `flyte._present`'s, the words the CLI uses too.
Everything time-dependent goes through `now()` and `clock()`, so snapshot tests can
freeze the screen by monkeypatching `flyte_tui._format.now` (and setting `TZ`).
"""

from __future__ import annotations

import time

from flyte import _present
from flyte._models import Phase
from flyte.store import decode_json

__all__ = [
    "PHASE_ICONS",
    "clock",
    "duration",
    "elapsed",
    "inputs_preview",
    "now",
    "parse_json",
    "phase_class",
    "short_task",
    "time_of_day",
]

PHASE_ICONS: dict[Phase, str] = {phase: _present.phase_icon(phase) for phase in Phase}


def now() -> float:
    """The current time; the one clock every widget reads (tests monkeypatch it)."""
    return time.time()


def phase_class(phase: Phase) -> str:
    """The CSS-ish suffix for a phase: `running`, `failed`, ... (`timed-out` for TIMED_OUT)."""
    return _present.phase_role(phase)


duration = _present.duration


def elapsed(started_at: float | None, ended_at: float | None) -> float | None:
    """Seconds from start to end, or to `now()` while still running; None if not started."""
    return _present.elapsed(started_at, ended_at, now())


def clock(ts: float | None) -> str:
    """A local wall-clock time: `HH:MM:SS` today, `Mon DD HH:MM` on another day."""
    if ts is None:
        return ""
    at = time.localtime(ts)
    today = time.localtime(now())
    if (at.tm_year, at.tm_yday) == (today.tm_year, today.tm_yday):
        return time.strftime("%H:%M:%S", at)
    return time.strftime("%b %d %H:%M", at)


def time_of_day(ts: float) -> str:
    """`HH:MM:SS` in local time (log lines: always eight characters wide)."""
    return time.strftime("%H:%M:%S", time.localtime(ts))


short_task = _present.short_task
inputs_preview = _present.inputs_preview

parse_json = decode_json
"""Decode a stored JSON value; undecodable text comes back as the text itself."""
