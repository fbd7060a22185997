"""Every CLI verb through `--endpoint` / `--api-key` against a real server, and the TUI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import remote_progs
from remote_helpers import REPO, TOKEN, Server, free_port, wait_for

import flyte
from flyte._models import Phase
from flyte._store.sqlite import SqliteRunStore

PROGS = str(Path(remote_progs.__file__))


def _error_line(result: Any) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return str(lines[0])


def test_get_runs_logs_io_and_cache_explain(remote: Server, flyte_cli: Any) -> None:
    run = flyte.run(remote_progs.cached_main, x=6)
    assert run.outputs()[0] == 37
    again = flyte.run(remote_progs.cached_main, x=6)
    endpoint = ["--endpoint", remote.endpoint, "--api-key", TOKEN]

    listed = flyte_cli(*endpoint, "get", "runs", "--json", "--limit", "100")
    assert listed.exit_code == 0, listed.output
    assert {run.name, again.name} <= {r["name"] for r in json.loads(listed.stdout)}
    shown = flyte_cli(*endpoint, "get", "run", run.name)
    assert shown.exit_code == 0 and "SUCCEEDED" in shown.stdout
    actions = flyte_cli(*endpoint, "get", "actions", again.name, "--json")
    statuses = {a["name"]: a["cache_status"] for a in json.loads(actions.stdout)}
    assert statuses["remote_progs.cached_square"] == "hit"
    logs = flyte_cli(*endpoint, "logs", run.name)
    assert logs.exit_code == 0 and "squaring 6" in logs.stdout
    io = flyte_cli(*endpoint, "get", "io", run.name, "--json")
    assert json.loads(io.stdout)["outputs"] == 37
    explain = flyte_cli(
        *endpoint, "get", "cache", "--explain", "cached_square", "--run", again.name, "--json"
    )
    assert explain.exit_code == 0, explain.output
    assert json.loads(explain.stdout)["hit"] is True
    entries = flyte_cli(*endpoint, "get", "cache", "--task", "cached_square", "--json")
    assert len(json.loads(entries.stdout)) == 1
    cleared = flyte_cli(*endpoint, "cache", "clear", "--task", "cached_square", "--json", "--yes")
    assert json.loads(cleared.stdout)["cleared"] == 1
    kept = remote.home / "server" / "runs" / again.name
    assert (kept / "request.json").is_file()
    deleted = flyte_cli(*endpoint, "delete", "run", again.name, "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert SqliteRunStore(remote.store_path).get_run(again.name) is None
    assert not kept.exists()


def test_run_deploy_and_run_deployed_through_the_cli(remote: Server, flyte_cli: Any) -> None:
    ran = flyte_cli("run", "examples/hello.py", "main", "--name", "Remote", "--json")
    assert ran.exit_code == 0, ran.output
    summary = json.loads(ran.stdout)
    assert summary["outputs"] == "Hello, Remote!"
    assert SqliteRunStore(remote.store_path).get_run(summary["run"]) is not None
    deployed = flyte_cli("deploy", "examples/hello.py", "--version", "cli1", "--json")
    assert deployed.exit_code == 0, deployed.output
    tasks = json.loads(flyte_cli("get", "tasks", "--json").stdout)
    assert {"hello.main", "hello.say_hello"} <= {t["name"] for t in tasks}
    by_name = flyte_cli("run", "--deployed", "hello.say_hello:cli1", "--name", "Ada", "--json")
    assert by_name.exit_code == 0, by_name.output
    assert json.loads(by_name.stdout)["outputs"] == "Hello, Ada!"
    assert not (Path(os.environ["FLYTE_HOME"]) / "runs.db").exists()


def test_abort_through_the_cli(remote: Server, flyte_cli: Any, tmp_path: Path) -> None:
    run = flyte.with_runcontext(wait=False).run(
        remote_progs.printer, lines=4, gate=str(tmp_path / "never")
    )
    wait_for(lambda: "line 001" in flyte_cli("logs", run.name).stdout, what="the first lines")
    aborted = flyte_cli("abort", run.name)
    assert aborted.exit_code == 0, aborted.output
    assert "ABORTED" in aborted.stdout
    assert run.phase is Phase.ABORTED
    again = flyte_cli("abort", run.name)
    assert "already ended" in _error_line(again)


def test_logs_follow_through_the_cli(remote: Server, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    run = flyte.with_runcontext(wait=False).run(remote_progs.printer, lines=20, gate=str(gate))
    env = {k: v for k, v in os.environ.items()}
    env["PYTHONPATH"] = str(REPO)
    follower = subprocess.Popen(
        [sys.executable, "-m", "flyte_cli", "logs", run.name, "--follow"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: len(run.store.logs(run.name)) >= 10, what="the first half")
        gate.touch()
        out, err = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.communicate()
    assert follower.returncode == 0, err
    lines = [line.split("] ", 1)[1] for line in out.splitlines()]
    assert lines == [f"line {i:03d}" for i in range(20)]


def test_rerun_through_the_cli_recovers_on_the_server(
    remote: Server, flyte_cli: Any, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    gate = tmp_path / "gate"
    run = flyte.with_runcontext(wait=False).run(
        remote_progs.pipeline, n=4, marks=str(marks), gate=str(gate)
    )
    wait_for(lambda: sum(a.phase is Phase.SUCCEEDED for a in run.actions()) == 2, what="even steps")
    flyte_cli("abort", run.name)
    assert run.wait().phase is Phase.ABORTED
    gate.touch()
    rerun = flyte_cli("rerun", run.name, "--recover", "--json")
    assert rerun.exit_code == 0, rerun.output
    summary = json.loads(rerun.stdout)
    assert summary["outputs"] == 60
    assert summary["recovered"] == 2  # the even steps were reused, not executed
    executed = sorted(p.name.split(".")[0] for p in marks.iterdir())
    assert executed == ["step0", "step1", "step1", "step2", "step3", "step3"]


def test_completion_of_run_names_asks_the_server(remote: Server) -> None:
    run = flyte.run(remote_progs.cached_main, x=2)
    env = {k: v for k, v in os.environ.items()}
    env.update(
        PYTHONPATH=str(REPO),
        _FLYTE_COMPLETE="complete_bash",
        COMP_WORDS=f"flyte logs {run.name[:-3]}",
        COMP_CWORD="2",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "flyte_cli"], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.name in proc.stdout.split()
    env.update(COMP_WORDS=f"flyte logs {run.name} ", COMP_CWORD="3")
    proc = subprocess.run(
        [sys.executable, "-m", "flyte_cli"], env=env, capture_output=True, text=True, timeout=60
    )
    ids = {a.id for a in run.actions()}
    assert len(ids) == 2 and ids <= set(proc.stdout.split())
    assert "httpx" not in proc.stderr


def test_unreachable_server_wrong_key_and_tls_errors_are_one_line_exit_2(
    server: Server, flyte_cli: Any
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    line = _error_line(flyte_cli("--endpoint", dead, "get", "runs"))
    assert line.startswith(f"Error: cannot reach the flyte server at {dead}")
    wrong = _error_line(
        flyte_cli("--endpoint", server.endpoint, "--api-key", "nope", "get", "runs")
    )
    assert "refused the API key" in wrong
    missing = _error_line(flyte_cli("--endpoint", server.endpoint, "logs", "x"))
    assert "refused the API key" in missing
    tls = _error_line(
        flyte_cli(
            "--endpoint",
            server.endpoint.replace("http", "https"),
            "--api-key",
            TOKEN,
            "get",
            "runs",
        )
    )
    assert tls.startswith("Error: TLS error talking to https://127.0.0.1")
    both = _error_line(flyte_cli("--endpoint", server.endpoint, "--store", "memory", "get", "runs"))
    assert "not both" in both
    for verb in (["gc", "--dry-run"], ["db", "stats"]):
        local_only = _error_line(flyte_cli("--endpoint", server.endpoint, *verb))
        assert "works on a store file, not through a server" in local_only
    assert flyte_cli("--endpoint", server.endpoint, "db", "--help").exit_code == 0


@pytest.mark.parametrize("verb", [["get", "runs"], ["tui"]])
def test_tui_and_reads_use_the_http_store(
    remote: Server, verb: list[str], monkeypatch: Any
) -> None:
    from flyte._store.http import HttpRunStore
    from flyte_cli import _options

    assert isinstance(_options.get_store(), HttpRunStore)
    if verb == ["tui"]:
        seen: list[Any] = []
        monkeypatch.setattr(
            "flyte_cli._execute.launch_tui", lambda store, run, **kw: seen.append(store)
        )
        monkeypatch.setattr("flyte_cli._execute.require_terminal", lambda what: None)
        from typer.testing import CliRunner

        from flyte_cli.main import app

        result = CliRunner().invoke(app, ["tui"], prog_name="flyte")
        assert result.exit_code == 0, result.output
        assert isinstance(seen[0], HttpRunStore)


async def test_tui_pilot_shows_a_live_remote_run(remote: Server, tmp_path: Path) -> None:
    from flyte._run import current_store
    from flyte_tui.app import DashboardApp
    from flyte_tui.widgets import ActionTree, LogView, RunHeader

    gate = tmp_path / "gate"
    run = flyte.with_runcontext(wait=False).run(remote_progs.printer, lines=6, gate=str(gate))
    store = current_store()
    app = DashboardApp(store, run.name, poll_interval=0.05)

    def tree() -> list[str]:
        widget = app.screen.query_one(ActionTree)
        return [
            str(node.label)
            for i in range(widget.last_line + 1)
            if (node := widget.get_node_at_line(i)) is not None
        ]

    async with app.run_test(size=(120, 36)) as pilot:
        from tui_wait import wait_until

        header = app.screen.query_one(RunHeader)
        await wait_until(pilot, lambda: any("● printer" in line for line in tree()))
        await pilot.press("w")
        logs = app.screen.query_one(LogView)
        await wait_until(pilot, lambda: sum("line" in line for line in logs.shown) == 3)
        gate.touch()
        await wait_until(pilot, lambda: "SUCCEEDED" in str(header.content))
        await wait_until(pilot, lambda: sum("line" in line for line in logs.shown) == 6)
        assert any("✓ printer" in line for line in tree())
    cached = flyte.run(remote_progs.cached_main, x=9)
    flyte.run(remote_progs.cached_main, x=9)
    hit_run = next(r for r in flyte.remote.Run.listall(limit=5) if r.name != cached.name)
    app = DashboardApp(store, hit_run.name, poll_interval=0.05)
    async with app.run_test(size=(120, 36)) as pilot:
        from tui_wait import wait_until

        await wait_until(pilot, lambda: any("cache hit" in line for line in tree()))


def test_run_watch_against_the_server(remote: Server, tmp_path: Path) -> None:
    import signal

    project = tmp_path / "proj"
    project.mkdir()
    source = project / "hello.py"
    source.write_text((REPO / "examples" / "hello.py").read_text())
    out = tmp_path / "out.txt"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    with out.open("w") as sink:
        watcher = subprocess.Popen(
            [sys.executable, "-m", "flyte_cli", "run", "--watch", "hello.py", "main"],
            cwd=project,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: "● SUCCEEDED" in out.read_text(), what="the first run")
        source.write_text(source.read_text().replace("Hello,", "Howdy,"))
        wait_for(lambda: out.read_text().count("● SUCCEEDED") == 2, what="the run after the edit")
    finally:
        watcher.send_signal(signal.SIGINT)
        watcher.wait(30)
    text = out.read_text()
    assert "Howdy, World!" in text and "no run" not in text
    names = [line.split()[2] for line in text.splitlines() if line.startswith("● SUCCEEDED")]
    store = SqliteRunStore(remote.store_path)
    assert all(store.get_run(name) is not None for name in names)
    assert not (Path(os.environ["FLYTE_HOME"]) / "runs.db").exists()


def test_reports_through_the_server(remote: Server, flyte_cli: Any, tmp_path: Path) -> None:
    from flyte._run import current_store

    run = flyte.run(remote_progs.reporting, n=3)
    store = current_store()
    [action] = store.report_actions(run.name)
    report = store.get_report(run.name, action)
    assert report is not None
    assert report == SqliteRunStore(remote.store_path).get_report(run.name, action)
    assert "<h1>squares up to 3</h1>" in "".join(report.tabs.values())
    assert store.get_report(run.name, "nope") is None
    out = tmp_path / "report.html"
    written = flyte_cli("get", "report", run.name, "-o", str(out), "--json")
    assert written.exit_code == 0, written.output
    assert json.loads(written.stdout)["actions"] == [action]
    assert "<td>4</td>" in out.read_text()
