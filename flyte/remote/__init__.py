"""flyte.remote: deployed tasks and recorded runs, from the local store (or a server).

`Task.get("env.task", auto_version="latest")` is a lazy reference to a deployed task: call
it inside a task like any task, or run it with `flyte.run`. With an endpoint configured
(`flyte.init(endpoint=...)`, `$FLYTE_ENDPOINT`), everything here reads the server's store
and `Run.get` returns a `RemoteRun` that follows the run on the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
        return self.resolve_task()(*args, **kwargs)

    async def aio(self, *args: Any, **kwargs: Any) -> Any:
        return await self.resolve_task().aio(*args, **kwargs)

    def override(self, **kwargs: Any) -> TaskTemplate[Any, Any]:
        return self.resolve_task().override(**kwargs)

    @staticmethod
    def listall() -> list[DeployedTask]:
        return current_store().list_deployed()

    def __repr__(self) -> str:
        return f"flyte.remote.Task({self.name!r}, version={self.version!r})"


class Action:
    """Actions of a recorded run."""

    @staticmethod
    def listall(run: Run | str) -> list[ActionRecord]:
        name = run if isinstance(run, str) else run.name
        return current_store().list_actions(name)
