"""`flyte.models`: upstream's public model names that user code imports.

Example:
    from flyte.models import ActionPhase
    if flyte.remote.Run.get(name).phase == ActionPhase.SUCCEEDED: ...
"""

from __future__ import annotations

import enum

from flyte._context import ActionID, TaskContext

__all__ = ["ActionID", "ActionPhase", "TaskContext"]


class ActionPhase(str, enum.Enum):
    """Upstream's phase names (lower-case values); compares equal to our `flyte.Phase` too."""

    QUEUED = "queued"
    WAITING_FOR_RESOURCES = "waiting_for_resources"
    INITIALIZING = "initializing"
    RUNNING = "running"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABORTED = "aborted"
    TIMED_OUT = "timed_out"
    RECOVERED = "recovered"

    @property
    def is_terminal(self) -> bool:
        return self in (
            ActionPhase.SUCCEEDED,
            ActionPhase.FAILED,
            ActionPhase.ABORTED,
            ActionPhase.TIMED_OUT,
            ActionPhase.RECOVERED,
        )

    def __eq__(self, other: object) -> bool:
        if isinstance(other, enum.Enum) and isinstance(other.value, str):
            return self.value == other.value.lower()
        if isinstance(other, str):
            return self.value == other.lower()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.value)
