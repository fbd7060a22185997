"""flyte.deploy and flyte.remote.Task.get: deployed tasks are callable locally."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

import flyte
import flyte.remote
from flyte.errors import TaskNotFoundError

MATH = """
import flyte

env = flyte.TaskEnvironment("math_env")


@env.task
async def square(x: int) -> int:
    return x * x {op} {extra}
"""


def _load(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def math_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    path = tmp_path / "deployed_math.py"
    path.write_text(MATH.format(op="+", extra=0))
    monkeypatch.syspath_prepend(str(tmp_path))
    module = _load(path, "deployed_math")
    yield module
    sys.modules.pop("deployed_math", None)


def test_deploy_registers_every_task_with_a_code_version(store: Any, math_module: Any) -> None:
    (deployment,) = flyte.deploy(math_module.env)
    assert deployment.env == "math_env" and deployment.tasks == ["math_env.square"]
    assert len(deployment.version) == 12
    (record,) = store.list_deployed()
    assert (record.name, record.version) == ("math_env.square", deployment.version)
    assert record.interface["inputs"]["x"]["type"] == "int"
    # the same code deploys under the same version; a dry run writes nothing new
    again = flyte.deploy(math_module.env, dry_run=True)
    assert again[0].version == deployment.version and again[0].dry_run


def test_a_deployed_task_is_callable_inside_a_task_and_keeps_its_snapshot(
    store: Any, math_module: Any, tmp_path: Path
) -> None:
    flyte.deploy(math_module.env, version="v1")
    # The source changes after the deploy: the reference still runs the v1 snapshot.
    (tmp_path / "deployed_math.py").write_text(MATH.format(op="+", extra=1000))
    sys.modules.pop("deployed_math", None)

    square = flyte.remote.Task.get("math_env.square", auto_version="latest")
    env = flyte.TaskEnvironment("caller_env")

    @env.task
    async def main(x: int) -> int:
        return await square(x) + 1

    run = flyte.run(main, 7)
    assert run.outputs()[0] == 50
    names = sorted(a.name for a in run.actions())
    assert names == ["caller_env.main", "math_env.square"]  # recorded as a child action


def test_a_deployed_task_runs_with_flyte_run_by_version(store: Any, math_module: Any) -> None:
    flyte.deploy(math_module.env, version="v1")
    assert flyte.run(flyte.remote.Task.get("math_env.square", version="v1"), 4).outputs()[0] == 16


def test_an_unknown_deployed_task_says_how_to_deploy(store: Any) -> None:
    missing = flyte.remote.Task.get("nope_env.nothing")
    with pytest.raises(TaskNotFoundError, match="flyte deploy"):
        missing.resolve_task()


def test_remote_run_get_and_listall_read_the_store(store: Any, math_module: Any) -> None:
    run = flyte.run(math_module.square, 3)
    again = flyte.remote.Run.get(run.name)
    assert again.outputs()[0] == 9 and again.phase is flyte.Phase.SUCCEEDED
    assert run.name in [r.name for r in flyte.remote.Run.listall()]
    assert [a.name for a in flyte.remote.Action.listall(run)] == ["math_env.square"]


def test_importing_flyte_remote_patches_nothing() -> None:
    import flyte
    import flyte.remote

    assert not hasattr(flyte.Run, "get") and not hasattr(flyte.Run, "listall")
    assert issubclass(flyte.remote.Run, flyte.Run)


def test_snapshots_taken_from_many_threads_at_once_are_all_by_value() -> None:
    # cloudpickle's by-value registry is process-wide: concurrent submissions once
    # unregistered a module under another snapshot (ValueError, or a silent by-reference
    # pickle of user code).
    import threading

    import cloudpickle
    import process_values as pv

    from flyte._deploy import snapshot_task

    alone = snapshot_task(pv.reverse, sealed=False)
    snapshots: list[bytes] = []
    errors: list[BaseException] = []

    def take() -> None:
        for _ in range(100):
            try:
                snapshots.append(snapshot_task(pv.reverse, sealed=False))
            except Exception as exc:
                errors.append(exc)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(snapshots) == 800 and set(snapshots) == {alone}  # each the same, by value
    assert "process_values" not in cloudpickle.list_registry_pickle_by_value()
