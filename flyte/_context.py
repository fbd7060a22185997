"""Context variables that tell engine code which run and action it is running inside."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flyte._controller.local import RunState

__all__ = [
    "ActionContext",
    "ActionID",
    "TaskContext",
    "ctx",
    "current_action",
    "group_var",
    "reset_action",
    "set_action",
]


class ActionContext:
    """Where code is running: the run, the action, its attempt, and per-action call state.

    `seq` counts calls per (task, inputs) for deterministic child ids; `pending` holds
    handles of sync children started from async code that the parent must outlive. A
    slotted class, not a dataclass: one is made per attempt on the engine's hot path.
    """

    __slots__ = (
        "action_id",
        "attempt",
        "checkpoint",
        "data",
        "depth",
        "group",
        "in_trace",
        "pending",
        "run",
        "seq",
        "task_name",
    )

    def __init__(
        self,
        *,
        run: RunState,
        action_id: str,
        task_name: str,
        attempt: int = 1,
        in_trace: bool = False,
        group: str | None = None,
        depth: int = 0,
    ) -> None:
        self.run = run
        self.action_id = action_id
        self.task_name = task_name
        self.attempt = attempt
        self.in_trace = in_trace
        self.group = group
        self.depth = depth  # how many async task levels it runs under (flyte._controller.limits)
        # task or trace name -> inputs hash (its first 64 bits) -> calls so far. A wide
        # fan-out keeps one entry per input: an int key is half the hash string's size.
        self.seq: dict[str, dict[int, int]] = {}
        self.pending: list[Any] = []
        self.data: dict[str, Any] | None = None  # flyte.ctx().data, made on first use
        self.checkpoint: Any = None  # flyte.ctx().checkpoint, made on first use

    def next_seq(self, task_name: str, inputs_hash: str) -> int:
        counts = self.seq.get(task_name)
        if counts is None:
            counts = self.seq[task_name] = {}
        key = int(inputs_hash[:16], 16)
        n = counts.get(key, 0)
        counts[key] = n + 1
        return n


_current: contextvars.ContextVar[ActionContext | None] = contextvars.ContextVar(
    "flyte_action", default=None
)


group_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("flyte_group", default=None)


def current_action() -> ActionContext | None:
    """The action the calling code runs in, or None outside a run."""
    return _current.get()


def set_action(action: ActionContext | None) -> contextvars.Token[ActionContext | None]:
    """Make `action` current; reset with the returned token."""
    return _current.set(action)


def reset_action(token: contextvars.Token[ActionContext | None]) -> None:
    _current.reset(token)


@dataclass(frozen=True, kw_only=True)
class ActionID:
    """Identifies an action, with upstream's attribute names."""

    name: str
    run_name: str
    project: str = "local"
    domain: str = "development"
    org: str = "local"


@dataclass(frozen=True, kw_only=True)
class TaskContext:
    """What `flyte.ctx()` returns inside a task (upstream attribute names).

    Example:
        @env.task
        def where() -> str:
            c = flyte.ctx()
            return f"{c.action.run_name}/{c.action.name} attempt {c.attempt_number}"
    """

    action: ActionID
    attempt: int
    task_name: str
    mode: str = "local"
    interactive_mode: bool = False
    raw_data_path: str = ""
    run_base_dir: str = ""
    input_path: str | None = None
    output_path: str = ""
    version: str = "local"
    custom_context: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    disable_run_cache: bool = False
    run_start_time: datetime | None = None
    group_data: str | None = None
    checkpoint_paths: Any = None
    code_bundle: Any = None
    compiled_image_cache: Any = None
    task_action: ActionID | None = None
    owner: ActionContext | None = field(default=None, repr=False, compare=False)

    @property
    def attempt_number(self) -> int:
        return self.attempt

    @property
    def checkpoint(self) -> Any:
        """This attempt's `flyte.Checkpoint`: load what the previous attempt saved, save yours."""
        owner = self.owner
        if owner is None:
            return None
        if owner.checkpoint is None:
            from flyte._checkpoint import action_checkpoint

            owner.checkpoint = action_checkpoint(owner.run.data_dir, owner.action_id, owner.attempt)
        return owner.checkpoint

    @property
    def report(self) -> Any:
        """The running action's `flyte.report.Report`."""
        from flyte.report import current_report

        return current_report()

    def is_in_cluster(self) -> bool:
        return self.mode == "remote"

    def replace(self, **kwargs: Any) -> TaskContext:
        """A copy with some fields changed; `data=` is merged into the current data."""
        if kwargs.get("data") is not None:
            kwargs["data"] = {**self.data, **kwargs["data"]}
        return replace(self, **kwargs)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __bool__(self) -> bool:
        return True


def ctx() -> TaskContext | None:
    """The current task's context, or None (falsy) outside a task.

    Example:
        @env.task
        def where() -> str:
            return flyte.ctx().action.run_name
    """
    action = _current.get()
    if action is None:
        return None
    run = action.run
    if action.data is None:
        action.data = {}
    action_id = ActionID(name=action.action_id, run_name=run.name)
    data_dir = str(run.data_dir)
    started = getattr(run, "started_at", None)
    return TaskContext(
        action=action_id,
        attempt=action.attempt,
        task_name=action.task_name,
        mode=run.mode,
        interactive_mode=_interactive(),
        raw_data_path=data_dir,
        run_base_dir=data_dir,
        output_path=f"{data_dir}/{action.action_id}",
        custom_context={**run.labels, **_custom()},
        data=action.data,
        disable_run_cache=bool(getattr(run.options, "disable_run_cache", False)),
        run_start_time=None if started is None else datetime.fromtimestamp(started, timezone.utc),
        group_data=group_var.get(),
        task_action=action_id,
        owner=action,
    )


def _interactive() -> bool:
    from flyte._notebook import in_notebook

    return in_notebook()


def _custom() -> dict[str, str]:
    from flyte._map import custom_context_var

    return dict(custom_context_var.get() or {})
