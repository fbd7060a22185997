"""Plain data shared by the SDK, the engine, the store, the CLI and the TUI."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "TERMINAL_PHASES",
    "ActionKind",
    "ActionRecord",
    "AttemptRecord",
    "CacheEntry",
    "CacheStatus",
    "DeployedTask",
    "LogLine",
    "Phase",
    "ReportRecord",
    "RunRecord",
]


class Phase(str, enum.Enum):
    """Lifecycle phase of a run or an action."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    ABORTED = "ABORTED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_PHASES

    def __str__(self) -> str:
        return self.value

    def __eq__(self, other: object) -> bool:
        # Upstream's phases are lower-case (flyte.models.ActionPhase.SUCCEEDED is
        # "succeeded"): `run.phase == ActionPhase.SUCCEEDED` must hold here too.
        if isinstance(other, str):
            return str.__eq__(self, other) or str.__eq__(self, other.upper())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._name_)


TERMINAL_PHASES = frozenset({Phase.SUCCEEDED, Phase.FAILED, Phase.TIMED_OUT, Phase.ABORTED})


class CacheStatus(str, enum.Enum):
    """What the cache did for an action."""

    DISABLED = "disabled"
    HIT = "hit"
    MISS = "miss"
    WRITTEN = "written"

    def __str__(self) -> str:
        return self.value


class ActionKind(str, enum.Enum):
    """A task call or a trace checkpoint."""

    TASK = "task"
    TRACE = "trace"

    def __str__(self) -> str:
        return self.value


@dataclass(kw_only=True)
class RunRecord:
    """One run: a root task invocation and everything it called."""

    name: str
    task: str
    phase: Phase
    created_at: float
    started_at: float | None = None
    ended_at: float | None = None
    inputs_json: str = "{}"
    outputs_json: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    pid: int | None = None
    host: str | None = None
    heartbeat: float | None = None
    recovered_from: str | None = None
    interrupted: bool = False
    settings: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    action_count: int = 0
    cache_hits: int = 0

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.ended_at if self.ended_at is not None else None
        return None if end is None else end - self.started_at


@dataclass(kw_only=True)
class ActionRecord:
    """One action of a run: a task call (`kind=task`) or a trace checkpoint (`kind=trace`)."""

    run: str
    id: str
    parent: str | None
    name: str
    kind: ActionKind = ActionKind.TASK
    phase: Phase = Phase.QUEUED
    group: str | None = None
    attempts: int = 0
    cache_status: CacheStatus = CacheStatus.DISABLED
    cache_key: str | None = None
    recovered: bool = False
    inputs_hash: str | None = None
    inputs_json: str = "{}"
    outputs_json: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    seq: int = 0

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at


@dataclass(kw_only=True)
class AttemptRecord:
    """One attempt of an action (retries make several)."""

    run: str
    action: str
    attempt: int
    phase: Phase
    started_at: float
    ended_at: float | None = None
    error_type: str | None = None
    error_message: str | None = None
    placement: dict[str, Any] = field(default_factory=dict)
    """Where it ran: {"worker": "inline"|"process"|"dask", "pid", "reused", "peak_rss" (bytes),
    "queued_s" (seconds waited QUEUED for CPU/memory)}; empty for attempts recorded before."""

    @property
    def where(self) -> str:
        """Where it ran, for people: "inline", "worker 4242", "reused worker 4242 · peak 96Mi"."""
        p = self.placement
        worker = p.get("worker")
        if not worker:
            return ""
        if worker == "inline":
            text = "inline"
        else:
            kind = "worker" if worker == "process" else f"{worker} worker"
            text = f"{'reused ' if p.get('reused') else ''}{kind}"
            if p.get("pid"):
                text += f" {p['pid']}"
            if p.get("address"):  # a Dask worker: which one, on which host
                text += f" at {str(p['address']).removeprefix('tcp://')}"
        if p.get("peak_rss"):
            text += f" · peak {p['peak_rss'] / 2**20:.0f}Mi"
        if p.get("queued_s", 0) >= 0.05:  # a wait that rounds to "queued 0.0s" is none
            text += f" · queued {p['queued_s']:.1f}s"
        return text


@dataclass(kw_only=True, frozen=True)
class LogLine:
    """One line an action printed or logged."""

    run: str
    action: str | None
    attempt: int
    ts: float
    stream: str
    line: str
    seq: int = 0


@dataclass(kw_only=True)
class CacheEntry:
    """A cached output and the parts of the key that produced it."""

    key: str
    task: str
    parts: dict[str, Any]
    created_at: float
    run: str | None = None
    action: str | None = None
    outputs_json: str | None = None


@dataclass(kw_only=True)
class DeployedTask:
    """A task registered by `flyte.deploy`."""

    name: str
    version: str
    env: str
    interface: dict[str, Any]
    settings: dict[str, Any]
    created_at: float


@dataclass(kw_only=True)
class ReportRecord:
    """The HTML report of an action (`@env.task(report=True)`): its tabs, in order."""

    run: str
    action: str
    attempt: int
    tabs: dict[str, str]
    updated_at: float
