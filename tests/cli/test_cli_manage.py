"""`flyte logs`, `abort`, `rerun`, `deploy`, `cache clear`, `delete run` and `tui` (in-process)."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest
from cli_helpers import Invoke, error_line


def _store() -> Any:
    from flyte._run import current_store

    return current_store()


def _run(flyte: Invoke, *args: str) -> dict[str, Any]:
    result = flyte("run", "--json", *args)
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _running_run(name: str = "still-going") -> str:
    """Record a RUNNING run driven by this (live) process, without executing anything."""
    now = time.time()
    _store().write(
        [
            (
                "run_insert",
                {
                    "name": name, "task": "demo.main", "phase": "RUNNING", "created_at": now,
                    "started_at": now, "pid": os.getpid(), "host": os.uname().nodename,
                    "heartbeat": now,
                },
            )
        ]
    )  # fmt: skip
    return name


# -- logs ---------------------------------------------------------------------------


def test_logs_of_a_run_an_action_and_the_tail(flyte: Invoke) -> None:
    run = _run(flyte, "examples/hello.py", "main")["run"]
    out = flyte("logs", run)
    assert out.exit_code == 0
    lines = out.stdout.splitlines()
    assert len(lines) == 3
    assert all(line.startswith("[say_hello ") for line in lines)
    assert any(line.endswith("] greeting World") for line in lines)
    leaf = next(a for a in _store().list_actions(run) if a.inputs_json == '{"name": "World"}')
    assert flyte("logs", run, leaf.id).stdout == "greeting World\n"
    assert len(flyte("logs", run, "--tail", "1").stdout.splitlines()) == 1
    assert flyte("logs", run, "--tail", "0").stdout == ""
    data = json.loads(flyte("logs", run, "--json").stdout)
    assert {d["line"] for d in data} == {"greeting World", "greeting friend 1", "greeting friend 2"}
    assert {d["stream"] for d in data} == {"stdout"}


def test_logs_by_attempt(flyte: Invoke, write: Any, tmp_path: Any) -> None:
    path = write(
        "retry_demo.py",
        f"""
        import flyte
        env = flyte.TaskEnvironment("retry")
        MARK = {str(tmp_path / "mark")!r}

        @env.task(retries=1)
        def main() -> str:
            import os
            first = not os.path.exists(MARK)
            print("attempt", "one" if first else "two")
            if first:
                open(MARK, "w").close()
                raise RuntimeError("try again")
            return "ok"
        """,
    )
    run = _run(flyte, path, "main")
    assert run["phase"] == "SUCCEEDED"
    assert flyte("logs", run["run"], "--attempt", "1").stdout.strip().endswith("attempt one")
    assert flyte("logs", run["run"], "--attempt", "2").stdout.strip().endswith("attempt two")
    assert "attempt 2" in flyte("get", "actions", run["run"]).stdout


def test_logs_follow_of_an_ended_run_returns(flyte: Invoke) -> None:
    run = _run(flyte, "examples/hello.py", "main")["run"]
    result = flyte("logs", run, "--follow", "--json")
    assert result.exit_code == 0
    assert len([json.loads(line) for line in result.stdout.splitlines()]) == 3


def test_logs_errors(flyte: Invoke) -> None:
    assert "no run named" in error_line(flyte("logs", "nope"))
    run = _run(flyte, "examples/hello.py", "main")["run"]
    assert "no action 'zzz'" in error_line(flyte("logs", run, "zzz"))
    assert "--tail" in error_line(flyte("logs", run, "--tail", "-1"))


# -- abort --------------------------------------------------------------------------


def test_abort_an_ended_run_is_refused(flyte: Invoke) -> None:
    run = _run(flyte, "examples/hello.py", "main")["run"]
    line = error_line(flyte("abort", run))
    assert f"run {run} already ended (SUCCEEDED)" in line


def test_abort_asks_the_driving_process(flyte: Invoke) -> None:
    name = _running_run()
    result = flyte("abort", name, "--wait", "0")
    assert result.exit_code == 0, result.output
    assert f"Asked run {name} to abort" in result.stdout
    assert _store().abort_requested(name)


# -- rerun --------------------------------------------------------------------------


def test_rerun_with_the_same_and_with_new_inputs(flyte: Invoke) -> None:
    first = _run(flyte, "examples/hello.py", "main", "--name", "Ada", "--friends", "0")
    same = flyte("rerun", first["run"], "--json")
    assert same.exit_code == 0, same.output
    data = json.loads(same.stdout)
    assert data["outputs"] == "Hello, Ada!" and data["actions"] == 2 and data["run"] != first["run"]
    changed = json.loads(flyte("rerun", first["run"], "--name", "Bo", "--json").stdout)
    assert changed["outputs"] == "Hello, Bo!"
    assert _store().get_run(changed["run"]).inputs_json == '{"name": "Bo", "friends": 0}'
    help_text = flyte("rerun", first["run"], "--help").stdout
    assert (
        "--name TEXT" in help_text
        and "default: as before" in help_text
        and "--recover" in help_text
    )


def test_rerun_recover(flyte: Invoke, write: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(
        "flaky_rerun.py",
        """
        import os
        import flyte
        env = flyte.TaskEnvironment("flaky_rerun")

        @env.task
        def first(x: int) -> int:
            return x + 1

        @env.task
        def main(x: int = 1) -> int:
            y = first(x)
            if os.environ.get("FLAKY_FAIL") == "1":
                raise RuntimeError("flaky")
            return y
        """,
    )
    monkeypatch.setenv("FLAKY_FAIL", "1")
    failed = _run(flyte, path, "main")
    assert failed["phase"] == "FAILED"
    monkeypatch.delenv("FLAKY_FAIL")
    result = flyte("rerun", failed["run"], "--recover", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (
        data["outputs"] == 2 and data["recovered"] == 1 and data["recovered_from"] == failed["run"]
    )
    plain = json.loads(flyte("rerun", "--json", failed["run"]).stdout)
    assert plain["recovered"] == 0 and plain["recovered_from"] is None


def test_rerun_errors(flyte: Invoke) -> None:
    assert "no run named 'nope'" in error_line(flyte("rerun", "nope"))
    assert "missing RUN" in error_line(flyte("rerun", "--recover"))
    run = _run(flyte, "examples/hello.py", "main")["run"]
    assert "Invalid value for '--friends'" in error_line(flyte("rerun", run, "--friends", "many"))


# -- deploy -------------------------------------------------------------------------


def test_deploy_registers_and_prints_what(flyte: Invoke) -> None:
    result = flyte("deploy", "examples/hello.py", "--version", "v1")
    assert result.exit_code == 0, result.output
    assert "hello" in result.stdout and "v1" in result.stdout and "hello.say_hello" in result.stdout
    assert "Registered 2 tasks." in result.stdout
    assert "flyte run --deployed hello.say_hello:v1" in result.stdout
    assert {(t.name, t.version) for t in _store().list_deployed()} == {
        ("hello.main", "v1"),
        ("hello.say_hello", "v1"),
    }


def test_deploy_dry_run_json_and_default_version(flyte: Invoke) -> None:
    dry = flyte("deploy", "examples/pipeline.py", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    data = json.loads(dry.stdout)
    assert (
        data[0]["env"] == "pipeline"
        and data[0]["dry_run"] is True
        and len(data[0]["version"]) == 12
    )
    assert "pipeline.transform" in data[0]["tasks"]
    assert _store().list_deployed() == []
    assert "Dry run" in flyte("deploy", "examples/pipeline.py", "--dry-run").stdout


def test_deploy_env_filter_and_errors(flyte: Invoke, write: Any) -> None:
    path = write(
        "two_envs.py",
        """
        import flyte
        a = flyte.TaskEnvironment("alpha")
        b = flyte.TaskEnvironment("beta")

        @a.task
        def one() -> int:
            return 1

        @b.task
        def two() -> int:
            return 2
        """,
    )
    result = flyte("deploy", path, "--env", "beta", "--json")
    assert [d["env"] for d in json.loads(result.stdout)] == ["beta"]
    assert "did you mean 'alpha'?" in error_line(flyte("deploy", path, "--env", "alpah"))
    assert "defines no flyte.TaskEnvironment" in error_line(
        flyte("deploy", write("no_env.py", "x = 1\n"))
    )


# -- cache clear, delete ----------------------------------------------------------------


def test_cache_clear(flyte: Invoke) -> None:
    _run(flyte, "examples/pipeline.py", "main", "--n", "2")
    one = flyte("cache", "clear", "--task", "pipeline.load", "--yes")
    assert one.stdout.strip() == "Cleared 1 cache entry of pipeline.load."
    rest = json.loads(flyte("cache", "clear", "--json", "--yes").stdout)
    assert rest == {"task": None, "cleared": 2}
    assert json.loads(flyte("get", "cache", "--json").stdout) == []


def test_delete_run(flyte: Invoke) -> None:
    run = _run(flyte, "examples/hello.py", "main")["run"]
    result = flyte("delete", "run", run, "--yes")
    assert result.exit_code == 0 and f"Deleted run {run}." in result.stdout
    assert _store().get_run(run) is None
    assert "no run named" in error_line(flyte("delete", "run", run, "--yes"))
    name = _running_run()
    assert "abort it first" in error_line(flyte("delete", "run", name, "--yes"))


# -- tui ----------------------------------------------------------------------------------


def test_tui_command_calls_launch(flyte: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    import flyte_tui

    monkeypatch.setattr("flyte_cli._execute.has_terminal", lambda: True)

    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        flyte_tui, "launch", lambda store, run=None, *, follow_latest=False: calls.append((store, run, follow_latest)),
        raising=False,
    )  # fmt: skip
    run = _run(flyte, "examples/hello.py", "main")["run"]
    assert flyte("tui").exit_code == 0
    assert flyte("tui", run).exit_code == 0
    assert flyte("tui", "--latest").exit_code == 0
    assert calls == [(_store(), None, False), (_store(), run, False), (_store(), None, True)]
    assert "no run named" in error_line(flyte("tui", "nope"))


def test_tui_not_available_is_a_clear_error(flyte: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setattr("flyte_cli._execute.has_terminal", lambda: True)
    monkeypatch.setitem(
        sys.modules, "flyte_tui", None
    )  # `from flyte_tui import launch` raises ImportError
    assert "terminal dashboard is not available" in error_line(flyte("tui"))
