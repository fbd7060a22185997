"""Text formatting shared by the widgets: clock, durations, phase icons, value previews.

Everything time-dependent goes through `now()` and `clock()`, so snapshot tests can
freeze the screen by monkeypatching `flyte_tui._format.now` (and setting `TZ`).
"""

from __future__ import annotations

import json
import time

from flyte._models import Phase
from flyte._store._rows import decode_json

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

PHASE_ICONS: dict[Phase, str] = {
    Phase.QUEUED: "◌",
    Phase.RUNNING: "●",
    Phase.SUCCEEDED: "✓",
    Phase.FAILED: "✗",
    Phase.TIMED_OUT: "⧖",
    Phase.ABORTED: "⊘",
}


def now() -> float:
    """The current time; the one clock every widget reads (tests monkeypatch it)."""
    return time.time()


def phase_class(phase: Phase) -> str:
    """The CSS-ish suffix for a phase: `running`, `failed`, ... (`timed-out` for TIMED_OUT)."""
    return phase.value.lower().replace("_", "-")


def duration(seconds: float | None) -> str:
    """A compact duration: `12ms`, `3.4s`, `2m05s`, `1h02m`; empty for None.

    Args:
        seconds: the duration, or None when unknown.
    """
    if seconds is None:
        return ""
    seconds = max(seconds, 0.0)
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        minutes, secs = divmod(int(seconds), 60)
        return f"{minutes}m{secs:02d}s"
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}h{rest // 60:02d}m"


def elapsed(started_at: float | None, ended_at: float | None) -> float | None:
    """Seconds from start to end, or to `now()` while still running; None if not started."""
    if started_at is None:
        return None
    end = ended_at if ended_at is not None else now()
    return end - started_at


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


def short_task(name: str) -> str:
    """`env.func` -> `func`; trace and other names pass through."""
    return name.rsplit(".", 1)[-1]


parse_json = decode_json
"""Decode a stored JSON value; undecodable text comes back as the text itself."""


def inputs_preview(inputs_json: str, width: int = 32) -> str:
    """`x=3, name='a'` from an action's inputs JSON, cut to `width` characters.

    Sibling actions of one fan-out differ only by their inputs, so the tree shows them.
    """
    if inputs_json in ("", "{}"):
        return ""
    value = parse_json(inputs_json)
    if isinstance(value, dict):
        text = ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in value.items())
    else:
        text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"
