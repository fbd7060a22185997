"""`flyte run --executor dask://...`, `FLYTE_EXECUTOR`, and the errors a user can meet."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def flyte_cli(cli_runner: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """`flyte_cli(*args, env=...)` runs the CLI in-process from the repository root."""
    from flyte._controller.dask_cluster import close_all
    from flyte_cli.main import app

    monkeypatch.chdir(REPO)

    def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
        return cli_runner.invoke(app, list(args), prog_name="flyte", env=env)

    yield invoke
    close_all()


def _address(dask_cluster: Any) -> str:
    return "dask://" + dask_cluster.scheduler_address.removeprefix("tcp://")


def _dask_attempts() -> list[Any]:
    from flyte._run import current_store

    store = current_store()
    run = store.list_runs()[0]
    assert run.phase == "SUCCEEDED"
    return store.list_attempts(run.name)


def test_run_executor_option_sends_bodies_to_the_cluster(
    flyte_cli: Any, dask_cluster: Any, dask_client: Any
) -> None:
    result = flyte_cli(
        "run", "--executor", _address(dask_cluster), "examples/hello.py", "main", "--name", "Ada"
    )
    assert result.exit_code == 0, result.output
    assert "Hello, Ada!" in result.stdout
    attempts = _dask_attempts()
    workers = set(dask_client.run(os.getpid).values())
    assert {a.placement["worker"] for a in attempts} == {"dask"}
    assert {a.placement["pid"] for a in attempts} <= workers
    # The tree says where each action ran: the Dask worker's pid and address.
    pid = attempts[0].placement["pid"]
    address = attempts[0].placement["address"].removeprefix("tcp://")
    assert f"dask worker {pid} at {address}" in result.stdout


def test_flyte_executor_environment_variable(
    flyte_cli: Any, dask_cluster: Any, dask_client: Any
) -> None:
    env = {"FLYTE_EXECUTOR": _address(dask_cluster)}
    result = flyte_cli("run", "examples/hello.py", "main", env=env)
    assert result.exit_code == 0, result.output
    workers = set(dask_client.run(os.getpid).values())
    assert {a.placement["pid"] for a in _dask_attempts()} <= workers


def _one_line_error(result: Any) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def test_unknown_executor_is_a_usage_error(flyte_cli: Any) -> None:
    line = _one_line_error(flyte_cli("run", "--executor", "ray", "examples/hello.py", "main"))
    assert "executor 'ray' is not known" in line and "dask://HOST:PORT" in line


def test_unreachable_scheduler_is_a_usage_error_and_records_no_run(flyte_cli: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = flyte_cli("run", "--executor", f"dask://127.0.0.1:{port}", "examples/hello.py", "main")
    line = _one_line_error(result)
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in line
    assert "dask scheduler" in line
    from flyte._run import current_store

    assert current_store().list_runs() == []
