"""The SDK against a real server: flyte.run / deploy / remote.* go to it, nothing local."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from remote_helpers import REPO, TOKEN, Server

from flyte._models import Phase
from flyte._store.sqlite import SqliteRunStore

SEED = REPO / "tests" / "examples" / "seed_programs" / "hello_async.py"


def _python(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("how", ["init", "config"])
def test_seed_program_runs_on_the_server_and_is_recorded_only_there(
    server: Server, tmp_path: Path, how: str
) -> None:
    # The seed calls flyte.init(); here with the endpoint, or reading a config file.
    config = tmp_path / "config.toml"
    config.write_text(f'endpoint = "{server.endpoint}"\napi_key = "{TOKEN}"\n')
    init = (
        f"flyte.init(endpoint={server.endpoint!r}, api_key={TOKEN!r})"
        if how == "init"
        else "flyte.init_from_config()"
    )
    program = tmp_path / "seed.py"
    program.write_text(SEED.read_text().replace("flyte.init()", init, 1), encoding="utf-8")
    client_home = tmp_path / "client-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLYTE_")}
    env.update(FLYTE_HOME=str(client_home), FLYTE_CONFIG=str(config), PYTHONPATH=str(REPO))
    proc = _python([str(program)], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "('Done',)"
    assert not client_home.exists(), "remote mode must write nothing to the client's store"
    store = SqliteRunStore(server.store_path)
    runs = [r for r in store.list_runs(limit=None) if r.task == "hello_world.main"]
    assert runs and runs[0].phase is Phase.SUCCEEDED
    assert len(store.list_actions(runs[0].name)) == 11


def _module(tmp_path: Path, name: str, source: str) -> Any:
    import importlib

    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(tmp_path))


def test_run_handle_follows_the_remote_run(
    remote: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import flyte
    import flyte.remote

    (tmp_path / "remote_handle_helper.py").write_text("def double(x):\n    return 2 * x\n")
    mod = _module(
        tmp_path,
        "remote_handle_prog",
        """
        import flyte
        from remote_handle_helper import double

        env = flyte.TaskEnvironment("handle")

        @env.task
        async def leaf(x: int) -> int:
            print("leaf", x)
            return double(x)

        @env.task
        async def main(n: int) -> list[int]:
            import asyncio
            return list(await asyncio.gather(*(leaf(i) for i in range(n))))
        """,
    )
    run = flyte.run(mod.main, n=3)
    assert isinstance(run, flyte.remote.RemoteRun)
    assert run.phase is Phase.SUCCEEDED
    assert run.outputs()[0] == [0, 2, 4]
    assert run.url == f"{remote.endpoint}/api/v1/runs/{run.name}"
    assert run.inputs() == {"n": 3}
    run.show_logs()
    assert sorted(capsys.readouterr().out.split("\n")[:3]) == ["leaf 0", "leaf 1", "leaf 2"]
    # The helper module travelled with the code: the server imported it from the bundle.
    assert flyte.remote.Run.get(run.name).phase is Phase.SUCCEEDED
    assert run.name in [r.name for r in flyte.remote.Run.listall(limit=50)]
    assert len(flyte.remote.Action.listall(run.name)) == 4
    assert not (Path(os.environ["FLYTE_HOME"]) / "runs.db").exists()
    # The server's own store has it, under the same name.
    assert SqliteRunStore(remote.store_path).get_run(run.name) is not None


def test_a_failing_remote_run_raises_the_tasks_own_error(remote: Server, tmp_path: Path) -> None:
    import flyte

    mod = _module(
        tmp_path,
        "remote_fail_prog",
        """
        import flyte

        env = flyte.TaskEnvironment("failing_remote")

        @env.task
        def main(x: int) -> int:
            raise ValueError(f"bad x {x}")
        """,
    )
    with pytest.raises(ValueError, match="bad x 3") as info:
        flyte.run(mod.main, x=3)
    assert isinstance(info.value, flyte.errors.RuntimeUserError)
    run = flyte.with_runcontext(raise_on_failure=False).run(mod.main, x=4)
    assert run.phase is Phase.FAILED


def test_main_module_tasks_ship_as_a_snapshot(remote: Server, tmp_path: Path) -> None:
    program = tmp_path / "snap.py"
    program.write_text(
        textwrap.dedent(
            """
            import flyte

            env = flyte.TaskEnvironment("snap")

            @env.task
            def add(a: int, b: int) -> int:
                return a + b

            if __name__ == "__main__":
                flyte.init(endpoint=ENDPOINT, api_key=TOKEN)
                run = flyte.run(add, 2, b=3)
                print(run.outputs()[0], run.name)
            """
        )
        .replace("ENDPOINT", repr(remote.endpoint))
        .replace("TOKEN", repr(TOKEN))
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLYTE_")}
    env.update(FLYTE_HOME=str(tmp_path / "client"), PYTHONPATH=str(REPO))
    proc = _python([str(program)], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    value, name = proc.stdout.split()
    assert value == "5"
    assert SqliteRunStore(remote.store_path).get_run(name) is not None


def test_deployed_task_is_fetched_and_called_inside_another_remote_run(
    remote: Server, tmp_path: Path
) -> None:
    import flyte
    import flyte.remote

    lib = _module(
        tmp_path,
        "remote_deploy_lib",
        """
        import flyte

        env = flyte.TaskEnvironment("mathlib")

        @env.task
        async def square(x: int) -> int:
            return x * x
        """,
    )
    [deployment] = flyte.deploy(lib.env, version="v1")
    assert deployment.tasks == ["mathlib.square"]
    assert [t.name for t in flyte.remote.Task.listall()] == ["mathlib.square"]
    (tmp_path / "remote_deploy_lib.py").unlink()  # the caller must not need the source
    caller = _module(
        tmp_path,
        "remote_deploy_caller",
        """
        import flyte
        import flyte.remote

        square = flyte.remote.Task.get("mathlib.square", auto_version="latest")
        env = flyte.TaskEnvironment("caller")

        @env.task
        async def main(x: int) -> int:
            return await square(x) + 1
        """,
    )
    run = flyte.run(caller.main, x=7)
    assert run.outputs()[0] == 50
    names = sorted(a.name for a in flyte.remote.Action.listall(run.name))
    assert names == ["caller.main", "mathlib.square"]
    direct = flyte.run(flyte.remote.Task.get("mathlib.square", version="v1"), x=4)
    assert direct.outputs()[0] == 16


def test_rerun_through_the_sdk_goes_to_the_server(remote: Server, tmp_path: Path) -> None:
    import flyte

    mod = _module(
        tmp_path,
        "remote_rerun_prog",
        """
        import flyte

        env = flyte.TaskEnvironment("rerun_remote")

        @env.task
        async def main(x: int) -> int:
            return x + 1
        """,
    )
    first = flyte.run(mod.main, x=1)
    again = flyte.rerun(first.name, x=10)
    assert again.name != first.name
    assert again.outputs()[0] == 11
    with pytest.raises(flyte.errors.UserError, match="already exists"):
        flyte.with_runcontext(name=first.name).run(mod.main, x=2)
    with pytest.raises(flyte.errors.UserError, match="has no input 'y'"):
        flyte.rerun(first.name, y=1)


def test_run_aio_against_the_server(remote: Server, tmp_path: Path) -> None:
    import asyncio

    import flyte

    mod = _module(
        tmp_path,
        "remote_aio_prog",
        """
        import flyte

        env = flyte.TaskEnvironment("aio_remote")

        @env.task
        async def main(x: int) -> int:
            return x * 3
        """,
    )
    run = asyncio.run(flyte.run.aio(mod.main, x=5))
    assert run.outputs()[0] == 15


def test_the_remote_example_runs_on_the_server(server: Server, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLYTE_")}
    env.update(
        FLYTE_HOME=str(tmp_path / "client"),
        FLYTE_ENDPOINT=server.endpoint,
        FLYTE_API_KEY=TOKEN,
        PYTHONPATH=str(REPO),
    )
    proc = _python([str(REPO / "examples" / "remote_run.py")], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    name = lines[0].split()[1].rstrip(":")
    assert lines[0].endswith(f"{server.endpoint}/api/v1/runs/{name}")
    assert sorted(lines[1:6]) == [f"squaring {i}" for i in range(5)]
    assert lines[-1] == "SUCCEEDED 30"
    assert SqliteRunStore(server.store_path).get_run(name) is not None
    assert not (tmp_path / "client").exists()


def test_remote_handle_follows_logs_and_aborts(
    remote: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import threading

    import remote_progs
    from remote_helpers import wait_for

    import flyte
    import flyte.remote

    gate = tmp_path / "gate"
    run = flyte.with_runcontext(wait=False).run(remote_progs.printer, lines=6, gate=str(gate))
    assert isinstance(run, flyte.remote.RemoteRun)

    def open_gate() -> None:
        wait_for(lambda: len(run.store.logs(run.name)) == 3, what="the first half")
        gate.touch()

    opener = threading.Thread(target=open_gate)
    opener.start()
    run.show_logs(follow=True)  # returns when the run has ended
    opener.join(30)
    assert capsys.readouterr().out.splitlines() == [f"line {i:03d}" for i in range(6)]
    assert run.phase is Phase.SUCCEEDED

    stuck = flyte.with_runcontext(wait=False).run(
        remote_progs.printer, lines=2, gate=str(tmp_path / "never")
    )
    wait_for(lambda: len(stuck.store.logs(stuck.name)) == 1, what="the run to print")
    assert stuck.abort() is True
    assert stuck.wait(timeout=60).phase is Phase.ABORTED
    with pytest.raises(flyte.errors.RunAbortedError, match="aborted"):
        stuck.outputs()


def test_concurrent_submissions_each_get_their_own_run(remote: Server) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import remote_progs

    import flyte

    def submit(x: int) -> tuple[str, int]:
        run = flyte.run(remote_progs.cached_main, x=100 + x)
        return run.name, run.outputs()[0]

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(submit, range(6)))
    assert len({name for name, _ in results}) == 6
    assert [value for _, value in results] == [(100 + x) ** 2 + 1 for x in range(6)]
