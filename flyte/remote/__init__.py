"""flyte.remote: deployed tasks and recorded runs, from the local store (or a server).

`Task.get("env.task", auto_version="latest")` is a lazy reference to a deployed task: call
it inside a task like any task, or run it with `flyte.run`. With an endpoint configured
(`flyte.init(endpoint=...)`, `$FLYTE_ENDPOINT`), everything here reads the server's store
and `Run.get` returns a `RemoteRun` that follows the run on the server.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flyte._models import Phase
from flyte._run import current_store
from flyte.errors import RemoteError, TaskNotFoundError
from flyte.remote._client import RemoteClient
from flyte.remote._run import RemoteRun, Run

if TYPE_CHECKING:
    from flyte._models import ActionRecord, DeployedTask
    from flyte._task import TaskTemplate

__all__ = ["Action", "RemoteClient", "RemoteError", "RemoteRun", "Run", "Task"]


class Task:
    """A lazy reference to a deployed task.

    Example:
        square = flyte.remote.Task.get("math.square", auto_version="latest")

        @env.task
        async def main(x: int) -> int:
            return await square(x)
    """

    def __init__(self, name: str, version: str | None) -> None:
        self.name = name
        self.version = version
        self._task: TaskTemplate[Any, Any] | None = None
        self._record: DeployedTask | None = None

    @classmethod
    def get(
        cls,
        name: str,
        version: str | None = None,
        auto_version: str | None = None,
        project: str | None = None,
        domain: str | None = None,
    ) -> Task:
        """A reference to `name` at `version`, or the latest version ("latest" / "current")."""
        return cls(name, version)

    def resolve_task(self) -> TaskTemplate[Any, Any]:
        """Load the deployed snapshot (once).

        Raises:
            TaskNotFoundError: nothing deployed under that name / version.
        """
        if self._task is None:
            from flyte._serde import loads

            found = current_store().get_deployed(self.name, self.version)
            if found is None:
                at = f" version {self.version}" if self.version else ""
                raise TaskNotFoundError(
                    f"no deployed task {self.name!r}{at}; deploy it with `flyte deploy FILE` "
                    "(`flyte get tasks` lists deployed tasks)"
                )
            self._record, blob = found
            self._task = loads(blob)
        return self._task

    @property
    def deployed(self) -> DeployedTask:
        self.resolve_task()
        assert self._record is not None
        return self._record

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        task = self.resolve_task()
        args, kwargs = _coerced(task, args, kwargs)
        return task(*args, **kwargs)

    async def aio(self, *args: Any, **kwargs: Any) -> Any:
        task = self.resolve_task()
        args, kwargs = _coerced(task, args, kwargs)
        return await task.aio(*args, **kwargs)

    def override(self, **kwargs: Any) -> TaskTemplate[Any, Any]:
        return self.resolve_task().override(**kwargs)

    @staticmethod
    def listall() -> list[DeployedTask]:
        return current_store().list_deployed()

    def __repr__(self) -> str:
        return f"flyte.remote.Task({self.name!r}, version={self.version!r})"


def _coerced(
    task: TaskTemplate[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Dicts given for a deployed task's dataclass / pydantic inputs become those types.

    The caller of a deployed task often lacks its input classes, as upstream's examples
    (`torch_task(v={"x": 12, "y": 13})`) rely on.
    """
    from flyte._coerce import coerce_inputs

    return coerce_inputs(task, args, kwargs)


class Action:
    """An action of a recorded run, with upstream's attribute names.

    `name` is the action's id ("a0" for the root), `task_name` the task it ran.

    Example:
        for action in flyte.remote.Action.listall(for_run_name=run.name):
            if action.task_name == child.name:
                html = action.get_report()
    """

    def __init__(self, record: ActionRecord) -> None:
        self.record = record

    @property
    def name(self) -> str:
        return self.record.id

    @property
    def run_name(self) -> str:
        return self.record.run

    @property
    def task_name(self) -> str:
        return self.record.name

    @property
    def phase(self) -> Phase:
        return self.record.phase

    def done(self) -> bool:
        """Whether the action has ended (the record is read again)."""
        self._refresh()
        return self.record.phase.is_terminal

    def _refresh(self) -> None:
        record = current_store().get_action(self.run_name, self.record.id)
        if record is not None:
            self.record = record

    async def wait(self, quiet: bool = False, wait_for: str = "terminal") -> None:
        """Wait until the action has ended (upstream's `await action.wait()`).

        `wait_for="running"` returns once it runs; `quiet` is accepted as upstream's.
        """
        import asyncio

        while True:
            self._refresh()
            phase = self.record.phase
            if phase.is_terminal or (wait_for == "running" and phase is not Phase.QUEUED):
                return
            await asyncio.sleep(0.1)

    def get_report(self, attempt: int | None = None) -> str:
        """This action's report as one self-contained HTML page.

        Raises:
            ReportNotFoundError: the action logged no report.
        """
        from flyte.report._html import action_report_html

        title = f"{self.task_name} · {self.run_name}"
        return action_report_html(current_store(), self.run_name, self.name, title)

    def __repr__(self) -> str:
        return f"flyte.remote.Action({self.run_name!r}, {self.name!r}, {self.task_name!r})"

    @staticmethod
    def listall(
        run: Run | str | None = None,
        *,
        for_run_name: str | None = None,
        in_phase: Iterable[Phase | str] | None = None,
        parent_name: str | None = None,
    ) -> list[Any]:
        """The actions of a run.

        `Action.listall(run)` gives the store's `ActionRecord`s (`name` is the task name);
        upstream's keyword form `Action.listall(for_run_name=..., in_phase=..., parent_name=...)`
        gives `Action`s with upstream's attribute names.
        """
        if for_run_name is None:
            if run is None:
                raise TypeError("Action.listall needs a run: listall(for_run_name=NAME)")
            name = run if isinstance(run, str) else run.name
            return current_store().list_actions(name)
        records = current_store().list_actions(for_run_name)
        if in_phase is not None:
            # flyte.Phase, upstream's flyte.models.ActionPhase, or a name, in any case.
            wanted = {str(getattr(p, "value", p)).upper() for p in in_phase}
            records = [r for r in records if r.phase.value in wanted]
        if parent_name is not None:
            records = [r for r in records if r.parent == parent_name]
        return [Action(r) for r in records]
