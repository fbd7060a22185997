"""How runs and actions are shown: one vocabulary for the CLI and the TUI.

The CLI's trees and tables and the TUI's widgets read the same records from the store and
must say the same thing about them: the same phase icons, the same label for an action
(`work(worker=1)`, not a hash in one place and inputs in the other), the same duration
format, the same order (call order), the same words ("cache hit", "recovered" for a task
reused from an earlier run, "replayed" for a trace checkpoint) and correct plurals.

Labels come as *segments*: `(text, role)` pairs, where the role names what the text is
(`"succeeded"`, `"dim"`, `"cache-hit"`, ...). The CLI maps roles to rich styles and the TUI
to component classes of its `.tcss`; the words and their order are decided only here.

Stdlib only, and no store or engine import: `flyte_cli` and `flyte_tui` both import it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flyte._models import ActionRecord

__all__ = [
    "PHASE_ICONS",
    "ActionCounts",
    "Segment",
    "action_segments",
    "call_order",
    "duration",
    "elapsed",
    "error_preview",
    "group_parts",
    "group_phase",
    "group_segments",
    "inputs_preview",
    "phase_icon",
    "phase_name",
    "phase_role",
    "plural",
    "short_task",
    "summary_text",
]

PHASE_ICONS: dict[str, str] = {
    "QUEUED": "○",
    "RUNNING": "●",
    "SUCCEEDED": "✓",
    "FAILED": "✗",
    "TIMED_OUT": "⧖",
    "ABORTED": "⊘",
}
"""One icon per phase. All are one cell wide in every common terminal font (⏱ is not)."""

Segment = tuple[str, str]
"""(text, role): a piece of a label and what it is, for the renderer to style."""


def phase_name(phase: Any) -> str:
    """`"SUCCEEDED"` for `Phase.SUCCEEDED` or the string itself."""
    return str(getattr(phase, "value", phase))


def phase_icon(phase: Any) -> str:
    """The icon of a phase (`?` for an unknown one)."""
    return PHASE_ICONS.get(phase_name(phase), "?")


def phase_role(phase: Any) -> str:
    """The role (style name) of a phase: `running`, `failed`, `timed-out`, ..."""
    return phase_name(phase).lower().replace("_", "-")


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
        # 59.96 would round to "60.0s": show it as the minute it nearly is.
        return f"{seconds:.1f}s" if seconds < 59.95 else "1m00s"
    if seconds < 3600:
        minutes, secs = divmod(int(seconds), 60)
        return f"{minutes}m{secs:02d}s"
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}h{rest // 60:02d}m"


def elapsed(
    started_at: float | None, ended_at: float | None, now: float | None = None
) -> float | None:
    """Seconds from start to end, or to `now` while still running; None if not started."""
    if started_at is None:
        return None
    end = ended_at if ended_at is not None else (now if now is not None else time.time())
    return max(0.0, end - started_at)


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`1 action`, `2 actions`, `1 cache hit`, `0 entries` (with `many="entries"`)."""
    return f"{count} {noun if count == 1 else (many or noun + 's')}"


def short_task(name: str) -> str:
    """`env.func` -> `func`; trace and other names pass through."""
    return name.rsplit(".", 1)[-1]


def inputs_preview(inputs_json: str | None, width: int = 32) -> str:
    """`x=3, name="a"` from an action's inputs JSON, cut to `width` characters.

    Sibling actions of one fan-out differ only by their inputs, so labels show them.
    """
    if not inputs_json or inputs_json == "{}":
        return ""
    try:
        value = json.loads(inputs_json)
    except ValueError:
        value = inputs_json
    if isinstance(value, dict):
        text = ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in value.items())
    else:
        text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def error_preview(error_type: str | None, message: str | None, width: int = 60) -> str:
    """`ValueError: first line of the message`, cut to `width` characters."""
    if not error_type:
        return ""
    first = (message or "").strip().splitlines()[0] if (message or "").strip() else ""
    text = f"{error_type}: {first}" if first else error_type
    return text if len(text) <= width else text[: width - 1] + "…"


def call_order(action: ActionRecord) -> tuple[float, int, str]:
    """Sort key putting sibling actions in the order they were called.

    An action's `started_at` is taken when its call is made (before any cache look-up or
    queueing), so it is the call order; actions not started yet come last.
    """
    start = action.started_at if action.started_at is not None else float("inf")
    return (start, action.seq, action.id)


def group_parts(group: str | None) -> list[str]:
    """The nesting of a group: `"outer/inner"` -> `["outer", "outer/inner"]`.

    `flyte.group` inside `flyte.group` records the joined path; each prefix is a group
    node of its own, so nested groups render nested.
    """
    if not group:
        return []
    names = group.split("/")
    return ["/".join(names[: i + 1]) for i in range(len(names))]


def action_segments(
    action: ActionRecord, *, now: float | None = None, with_id: bool = False
) -> list[Segment]:
    """One line for an action: icon, `task(inputs)`, duration, then what happened.

    Args:
        action: the action (a task call or a trace checkpoint).
        now: the clock running actions are measured against (default: now).
        with_id: also show the action id (for commands that take ids).

    Returns:
        Segments in display order; roles: the phase role, `name`, `root`, `trace`,
        `dim`, `attempts`, `cache-hit`, `cache-miss`, `recovered`, `report`, `error`.
    """
    phase = phase_name(action.phase)
    role = phase_role(phase)
    is_trace = phase_name(action.kind) == "trace"
    out: list[Segment] = [(f"{phase_icon(phase)} ", role)]
    out.append(
        (
            short_task(action.name),
            "trace" if is_trace else "root" if action.parent is None else "name",
        )
    )
    preview = inputs_preview(action.inputs_json)
    if preview:
        out.append((f"({preview})", "dim"))
    if is_trace:
        out.append((" trace", "trace"))
    if with_id:
        out.append((f" {action.id}", "dim"))
    took = duration(elapsed(action.started_at, action.ended_at, now))
    if took:
        out.append((f"  {took}", "dim"))
    # A trace records the attempt of its task it ran in; it is never retried on its own.
    if not is_trace and action.attempts > 1:
        out.append((f"  {action.attempts} attempts", "attempts"))
    cache = phase_name(action.cache_status)
    if cache == "hit":
        out.append(("  cache hit", "cache-hit"))
    elif cache in ("miss", "written") and phase == "SUCCEEDED" and not action.recovered:
        out.append(("  cache miss", "cache-miss"))
    if action.recovered:
        out.append(("  replayed" if is_trace else "  recovered", "recovered"))
    if action.settings.get("report"):
        out.append(("  report", "report"))  # `flyte get report` / the TUI's `o` open it
    if phase == "ABORTED":
        out.append(("  aborted", role))
    elif phase in ("FAILED", "TIMED_OUT") and action.error_type:
        out.append((f"  {error_preview(action.error_type, action.error_message)}", "error"))
    return out


@dataclass(frozen=True, kw_only=True)
class ActionCounts:
    """What the actions of a run did, in the words every summary uses.

    `ran` counts task actions that executed their body (failed and aborted ones too);
    `cache_hits` and `recovered` count task actions reused instead; `replayed` counts
    trace checkpoints whose recorded result was returned instead of running them.
    """

    tasks: int = 0
    ran: int = 0
    cache_hits: int = 0
    recovered: int = 0
    failed: int = 0
    aborted: int = 0
    traces: int = 0
    replayed: int = 0

    @classmethod
    def of(cls, actions: Iterable[ActionRecord]) -> ActionCounts:
        """Count `actions` (tasks and traces of one run)."""
        counts = dict.fromkeys(
            ("tasks", "ran", "cache_hits", "recovered", "failed", "aborted", "traces", "replayed"),
            0,
        )
        for action in actions:
            phase = phase_name(action.phase)
            if phase_name(action.kind) == "trace":
                counts["traces"] += 1
                counts["replayed"] += bool(action.recovered)
                continue
            counts["tasks"] += 1
            if phase_name(action.cache_status) == "hit":
                counts["cache_hits"] += 1
            elif action.recovered:
                counts["recovered"] += 1
            elif action.started_at is not None:
                counts["ran"] += 1
                counts["failed"] += phase in ("FAILED", "TIMED_OUT")
                counts["aborted"] += phase == "ABORTED"
        return cls(**counts)


def summary_text(counts: ActionCounts) -> str:
    """`3 actions: 1 ran, 2 cache hits` (+ recovered, replayed, failed when there are any)."""
    parts = [f"{counts.ran} ran", plural(counts.cache_hits, "cache hit")]
    if counts.recovered:
        parts.append(f"{counts.recovered} recovered")
    if counts.replayed:
        parts.append(f"{plural(counts.replayed, 'trace')} replayed")
    if counts.failed:
        parts.append(f"{counts.failed} failed")
    if counts.aborted:
        parts.append(f"{counts.aborted} aborted")
    return f"{plural(counts.tasks, 'action')}: {', '.join(parts)}"


def group_phase(*, failed: int, running: int, queued: int, aborted: int) -> str:
    """The phase a group shows: failed > running > queued > aborted > succeeded."""
    if failed:
        return "FAILED"
    if running:
        return "RUNNING"
    if queued:
        return "QUEUED"
    if aborted:
        return "ABORTED"
    return "SUCCEEDED"


def group_segments(name: str, actions: Iterable[ActionRecord]) -> list[Segment]:
    """One line for a group: aggregate icon, `▤ name`, `done/total` and notable counts.

    Args:
        name: the group's path (`outer/inner`); only its last part is shown.
        actions: every action in the group, nested groups included.
    """
    total = done = running = queued = failed = aborted = cached = 0
    for action in actions:
        total += 1
        phase = phase_name(action.phase)
        done += phase in ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
        running += phase == "RUNNING"
        queued += phase == "QUEUED"
        failed += phase in ("FAILED", "TIMED_OUT")
        aborted += phase == "ABORTED"
        cached += phase_name(action.cache_status) == "hit"
    phase = group_phase(failed=failed, running=running, queued=queued, aborted=aborted)
    out: list[Segment] = [(f"{phase_icon(phase)} ", phase_role(phase))]
    out.append((f"▤ {name.rsplit('/', 1)[-1]}", "group"))
    out.append((f"  {done}/{total} done", "dim"))
    if running:
        out.append((f" · {running} running", "running"))
    if failed:
        out.append((f" · {failed} failed", "failed"))
    if cached:
        out.append((f" · {plural(cached, 'cache hit')}", "cache-hit"))
    return out
