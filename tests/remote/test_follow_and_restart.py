"""Log followers see every line once, in order; a killed server's runs recover."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import remote_progs
from remote_helpers import TOKEN, Server, driver_pids, free_port, wait_for

import flyte
from flyte._models import Phase


def test_two_clients_following_one_run_see_every_line_once_in_order(
    remote: Server, tmp_path: Path
) -> None:
    from flyte._store.http import HttpRunStore
    from flyte.remote import RemoteClient

    gate = tmp_path / "gate"
    run = flyte.with_runcontext(wait=False).run(remote_progs.printer, lines=200, gate=str(gate))
    seen: list[list[str]] = [[], []]
    started = [threading.Event(), threading.Event()]
    failures: list[BaseException] = []

    def follow(i: int) -> None:
        # Each follower is its own client (own connection pool), as two users would be.
        store = HttpRunStore(RemoteClient(remote.endpoint, api_key=TOKEN))
        try:
            for batch in store.follow_logs(run.name):
                seen[i].extend(line.line for line in batch)
                started[i].set()
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)
            started[i].set()

    threads = [threading.Thread(target=follow, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for event in started:
        assert event.wait(60), "a follower got nothing"
    assert run.phase is Phase.RUNNING  # both are following a run that is still going
    gate.touch()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive()
    assert not failures, failures
    expected = [f"line {i:03d}" for i in range(200)]
    assert seen[0] == expected
    assert seen[1] == expected


def test_killing_the_server_interrupts_its_runs_and_recover_runs_only_unfinished_work(
    tmp_path: Path, monkeypatch: Any
) -> None:
    home = tmp_path / "server-home"
    server = Server(home=home, port=free_port(), token=TOKEN).start()
    monkeypatch.setenv("FLYTE_ENDPOINT", server.endpoint)
    monkeypatch.setenv("FLYTE_API_KEY", TOKEN)
    marks, gate = tmp_path / "marks", tmp_path / "gate"
    try:
        run = flyte.with_runcontext(wait=False).run(
            remote_progs.pipeline, n=6, marks=str(marks), gate=str(gate)
        )
        wait_for(
            lambda: sum(a.phase is Phase.SUCCEEDED for a in run.actions()) == 3,
            what="the even steps to finish",
        )
        drivers = driver_pids(home)
        assert drivers, "the run is driven by a driver process of the server"
        server.kill()
        # The drivers notice their server is gone (their stdin closes) and exit.
        wait_for(lambda: not driver_pids(home), what="the drivers to exit")
        server.start()  # the same home, store and port
        record = flyte.remote.Run.get(run.name).record
        assert record.phase is Phase.ABORTED
        assert record.interrupted
        gate.touch()
        from typer.testing import CliRunner

        from flyte_cli.main import app

        result = CliRunner().invoke(app, ["rerun", run.name, "--recover", "--json"])
        assert result.exit_code == 0, result.output
        import json

        summary = json.loads(result.stdout)
        assert summary["phase"] == "SUCCEEDED"
        assert summary["outputs"] == sum(i * 10 for i in range(6))
        assert summary["recovered"] == 3
        executed = sorted(p.name.split(".")[0] for p in marks.iterdir())
        # Even steps ran once (in the killed run); odd ones twice: started, then rerun.
        assert executed == sorted(
            [f"step{i}" for i in range(6)] + [f"step{i}" for i in range(1, 6, 2)]
        )
    finally:
        gate.touch()
        server.stop()
    assert not os.path.exists(Path(os.environ["FLYTE_HOME"]) / "runs.db")


def test_a_run_survives_its_client_disconnecting(remote: Server, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    from remote_helpers import REPO

    gate = tmp_path / "gate"
    code = (
        "import flyte, remote_progs\n"
        f"run = flyte.run(remote_progs.printer, lines=4, gate={str(gate)!r})\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(Path(remote_progs.__file__).parent)])
    client = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        found = wait_for(
            lambda: [
                r
                for r in flyte.remote.Run.listall(limit=20)
                if r.record.labels.get("client", "").endswith(f":{client.pid}")
            ],
            what="the client's run to start",
        )
        run = found[0]
        wait_for(lambda: len(run.store.logs(run.name)) == 2, what="the first half of the lines")
    finally:
        client.send_signal(signal.SIGKILL)  # the client goes away mid-run
        client.wait(30)
    assert run.phase is Phase.RUNNING
    gate.touch()
    assert run.wait(timeout=60).phase is Phase.SUCCEEDED
    assert [line.line for line in run.store.logs(run.name)] == [f"line {i:03d}" for i in range(4)]


def test_serve_executor_reaches_the_drivers(tmp_path: Path, monkeypatch: Any) -> None:
    server = Server(
        home=tmp_path / "home", port=free_port(), token=TOKEN, args=["--executor", "process"]
    ).start()
    try:
        monkeypatch.setenv("FLYTE_ENDPOINT", server.endpoint)
        monkeypatch.setenv("FLYTE_API_KEY", TOKEN)
        run = flyte.run(remote_progs.executor_env)
        assert run.outputs()[0] == "process"
    finally:
        server.stop()


def test_a_dead_fork_server_is_started_again(tmp_path: Path, monkeypatch: Any) -> None:
    import signal

    server = Server(home=tmp_path / "home", port=free_port(), token=TOKEN).start()
    monkeypatch.setenv("FLYTE_ENDPOINT", server.endpoint)
    monkeypatch.setenv("FLYTE_API_KEY", TOKEN)
    try:
        stuck = flyte.with_runcontext(wait=False).run(
            remote_progs.printer, lines=2, gate=str(tmp_path / "never")
        )
        wait_for(lambda: len(stuck.store.logs(stuck.name)) == 1, what="the run to print")
        assert server.proc is not None

        def ppid(pid: int) -> int:
            return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])

        [fork_server] = [p for p in driver_pids(server.home) if ppid(p) == server.proc.pid]
        os.kill(fork_server, signal.SIGKILL)
        assert stuck.wait(timeout=60).phase is Phase.ABORTED  # its driver went with it
        assert stuck.record.interrupted
        again = flyte.run(remote_progs.cached_main, x=3)
        assert again.outputs()[0] == 10
    finally:
        server.stop()


def _events(response: Any) -> Any:
    """(event, id, data) of a server-sent event stream, as they arrive."""
    import json

    event, ident, data = "message", None, ""
    for raw in response.iter_lines():
        if raw == "":
            yield event, ident, json.loads(data) if data else None
            event, ident, data = "message", None, ""
        elif raw.startswith("event: "):
            event = raw[7:]
        elif raw.startswith("id: "):
            ident = raw[4:]
        elif raw.startswith("data: "):
            data += raw[6:]


def test_logs_as_server_sent_events_follow_and_resume(remote: Server, tmp_path: Path) -> None:
    import httpx

    gate = tmp_path / "gate"
    run = flyte.with_runcontext(wait=False).run(remote_progs.printer, lines=6, gate=str(gate))
    url = f"{remote.endpoint}/api/v1/runs/{run.name}/logs/events"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    seen: list[tuple[str, str | None, Any]] = []
    with httpx.stream("GET", url, headers=headers, timeout=60) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for event in _events(response):
            seen.append(event)
            if len(seen) == 3:
                assert run.phase is Phase.RUNNING  # streaming while it runs
                gate.touch()
    assert [data["line"] for kind, _, data in seen if kind == "line"] == [
        f"line {i:03d}" for i in range(6)
    ]
    assert seen[-1][0] == "end"
    third = seen[2][1]
    assert third is not None
    with httpx.stream("GET", url, headers={**headers, "Last-Event-ID": third}) as response:
        rest = [data["line"] for kind, _, data in _events(response) if kind == "line"]
    assert rest == ["line 003", "line 004", "line 005"]
