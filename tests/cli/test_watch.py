"""Watch mode: a real watcher over real files in tmp_path, with real `flyte run` children.

Each loop runs in a thread (stopped by its `stop` event) or, for Ctrl-C, in a subprocess.
Children inherit the isolated FLYTE_HOME of the autouse fixture, so the test reads their
runs from the same store.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flyte._models import CacheStatus, Phase
from flyte._store import default_store
from flyte_cli._watch import RunSummary, watch_loop
from flyte_cli._watch_child import child_command
from flyte_cli._watch_files import GitIgnore, WatchFilter, find_project_root

pytestmark = pytest.mark.skipif(os.name != "posix", reason="process groups and signals")

PIPELINE = """
import asyncio

import flyte

env = flyte.TaskEnvironment("wpipe", cache="auto")


@env.task
async def load(n: int) -> list[int]:
    return list(range(n))


@env.task
async def square(xs: list[int]) -> list[int]:
    return [x * x for x in xs]


@env.task
async def total(xs: list[int]) -> int:
    return sum(xs)


@env.task(cache="disable")
async def main(n: int = 4) -> int:
    return await total(await square(await load(n)))


@env.task(cache="disable")
async def slow() -> int:
    await asyncio.sleep(60)
    return 1
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project: pyproject.toml, the pipeline, a .gitignore'd folder, a venv, a data folder."""
    root = tmp_path / "proj"
    for folder in ("generated", ".venv/lib", "pkg/__pycache__", "data"):
        (root / folder).mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'proj'\n")
    (root / ".gitignore").write_text("generated/\n*_local.py\n")
    (root / "pipeline.py").write_text(PIPELINE)
    return root


class LoopThread:
    """`watch_loop` in a thread, with its summaries in a queue."""

    def __init__(self, file: Path, task: str, argv: list[str], **options: Any) -> None:
        self.summaries: queue.Queue[RunSummary] = queue.Queue()
        self.stop = threading.Event()
        self.code: int | None = None
        options = {"watch_paths": [], "tui": False, "module": False, **options}

        def run() -> None:
            self.code = watch_loop(
                str(file), task, argv, stop=self.stop, on_summary=self.summaries.put, **options
            )

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def next(self, timeout: float = 60.0) -> RunSummary:
        return self.summaries.get(timeout=timeout)

    def close(self) -> int | None:
        self.stop.set()
        self.thread.join(timeout=20)
        assert not self.thread.is_alive(), "the loop did not stop"
        return self.code


@pytest.fixture
def loop(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., LoopThread]]:
    """`loop(file, task, argv, **options)` starts a watch loop; all are stopped at teardown."""
    from flyte_cli._options import state

    monkeypatch.setattr(state, "store", None)  # no --store left over from another test
    started: list[LoopThread] = []

    def start(file: Path, task: str, argv: list[str] | None = None, **options: Any) -> LoopThread:
        started.append(LoopThread(file, task, argv or [], **options))
        return started[-1]

    yield start
    for running in started:
        running.close()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def cache_status(run: str) -> dict[str, CacheStatus]:
    return {a.name.split(".")[-1]: a.cache_status for a in default_store().list_actions(run)}


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def running_run() -> Any:
    return next((r for r in default_store().list_runs() if r.phase is Phase.RUNNING), None)


def test_an_edit_reruns_only_the_edited_task_and_its_dependents(
    project: Path, loop: Callable[..., LoopThread]
) -> None:
    pipeline = project / "pipeline.py"
    watching = loop(pipeline, "main", ["--n", "4"], watch_paths=[str(project / "data")])
    first = watching.next()
    assert (first.phase, first.executed, first.cache_hits, first.changed) == ("SUCCEEDED", 4, 0, ())

    # Ignored paths: gitignored, hidden folders, __pycache__, non-Python files.
    (project / "generated" / "gen.py").write_text("x = 1\n")
    (project / "settings_local.py").write_text("x = 1\n")
    (project / ".venv" / "lib" / "site.py").write_text("x = 1\n")
    (project / "pkg" / "__pycache__" / "m.py").write_text("x = 1\n")
    (project / "notes.txt").write_text("not code\n")

    # No fixed wait for "nothing happened": had any of those files started a run, its
    # summary would come before the edit's and list it as changed.
    edit(pipeline, "[x * x for x in xs]", "[x * x + 1 for x in xs]")
    second = watching.next()
    assert second.run != first.run and second.phase == "SUCCEEDED"
    assert second.changed == ("pipeline.py",)
    assert len(default_store().list_runs()) == 2
    assert (second.executed, second.cache_hits, second.failed) == (3, 1, 0)
    status = cache_status(second.run)  # type: ignore[arg-type]
    assert status["load"] == CacheStatus.HIT
    assert status["square"] != CacheStatus.HIT and status["total"] != CacheStatus.HIT
    assert default_store().get_run(second.run).outputs_json == "18"  # type: ignore[arg-type,union-attr]
    # How fast is measured in benchmarks/ (a wall-clock bound here flakes under load).
    assert second.latency is not None and second.latency > 0

    # A --watch-path folder re-runs on any file; nothing changed, so all cached tasks hit.
    (project / "data" / "input.csv").write_text("1,2,3\n")
    third = watching.next()
    assert third.changed == ("data/input.csv",)
    assert (third.executed, third.cache_hits) == (1, 3)
    assert watching.close() == 0


def test_a_broken_edit_keeps_watching_and_the_fix_reruns(
    project: Path, loop: Callable[..., LoopThread], capfd: pytest.CaptureFixture[str]
) -> None:
    pipeline = project / "pipeline.py"
    watching = loop(pipeline, "main")
    assert watching.next().phase == "SUCCEEDED"

    pipeline.write_text(PIPELINE + "\ndef broken(:\n")
    broken = watching.next()
    assert broken.run is None and broken.exit_code == 2
    assert "syntax error" in capfd.readouterr().err.lower()
    assert watching.thread.is_alive()

    pipeline.write_text(PIPELINE)  # the fix: the same code as the first run, so cache hits
    fixed = watching.next()
    assert (fixed.phase, fixed.executed, fixed.cache_hits) == ("SUCCEEDED", 1, 3)
    assert "no run" in RunSummary(run=None, phase=None, exit_code=2).line()


def test_a_change_aborts_the_run_in_flight(project: Path, loop: Callable[..., LoopThread]) -> None:
    pipeline = project / "pipeline.py"
    watching = loop(pipeline, "slow")
    first = wait_for(running_run)

    edit(pipeline, "await asyncio.sleep(60)", "await asyncio.sleep(59)")
    aborted = watching.next()
    assert (aborted.run, aborted.phase, aborted.aborted) == (first.name, "ABORTED", 1)
    record = default_store().get_run(first.name)
    assert record is not None and record.phase is Phase.ABORTED and not record.interrupted

    second = wait_for(running_run)
    assert second.name != first.name
    assert watching.close() == 0  # stopping the loop aborts the run in flight too
    assert default_store().get_run(second.name).phase is Phase.ABORTED  # type: ignore[union-attr]


def _children(pid: int) -> set[int]:
    """The pids whose parent is `pid` (Linux /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_ends_the_loop_and_its_child(
    project: Path, tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from flyte_cli._watch import watch_loop
        sys.exit(watch_loop({str(project / "pipeline.py")!r}, "slow", [],
                            watch_paths=[], tui=False, module=False))
        """
    )
    log = tmp_path / "loop.out"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=out, stderr=out)
    try:
        run = wait_for(running_run)
        wait_for(lambda: len(_children(proc.pid)) >= 2)  # the run's child and the spare
        children = _children(proc.pid)
        assert run.pid in children
        proc.send_signal(sig)  # Ctrl-C, or `kill`: the child must not be orphaned
        assert proc.wait(timeout=20) == code
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not [pid for pid in children if _alive(pid)]
    record = default_store().get_run(run.name)
    assert record is not None and record.phase is Phase.ABORTED
    assert "stopped watching" in log.read_text()


def test_module_form_watches_the_modules_project(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flyte_cli._options import state

    monkeypatch.setattr(state, "store", None)
    monkeypatch.chdir(project)
    summaries: list[RunSummary] = []
    code = watch_loop(
        "pipeline",
        "main",
        ["--n", "2"],
        watch_paths=[],
        tui=False,
        module=True,
        max_runs=1,
        on_summary=summaries.append,
    )
    assert code == 0
    assert [(s.phase, s.executed) for s in summaries] == [("SUCCEEDED", 4)]


def test_tui_mode_runs_quiet_children_and_follows_the_newest_run(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flyte_tui
    from flyte_cli._options import state

    monkeypatch.setattr(state, "store", None)
    summaries: queue.Queue[RunSummary] = queue.Queue()
    calls: list[tuple[Any, ...]] = []

    def launch(store: Any, run_name: str | None = None, *, follow_latest: bool = False) -> None:
        calls.append((store.path, run_name, follow_latest))
        summaries.get(timeout=30)  # "the user quits" once the first run has ended

    monkeypatch.setattr(flyte_tui, "launch", launch)
    code = watch_loop(
        str(project / "pipeline.py"),
        "main",
        ["--n", "3"],
        watch_paths=[],
        tui=True,
        module=False,
        on_summary=summaries.put,
    )
    assert code == 0
    assert calls == [(default_store().path, None, True)]
    log = (Path(os.environ["FLYTE_HOME"]) / "watch.log").read_text()
    assert "● SUCCEEDED" in log and "5" in log  # the summary and the quiet output
    assert "└──" not in log  # no live tree


def test_watch_filter_gitignore_and_project_root(project: Path, tmp_path: Path) -> None:
    nested = project / "pkg" / "tasks.py"
    assert find_project_root(nested) == project
    loose = tmp_path / "loose" / "script.py"
    loose.parent.mkdir()
    assert find_project_root(loose) == loose.parent

    accept = WatchFilter(project, [tmp_path / "extra"])
    kept = [project / "pipeline.py", project / "pkg" / "tasks.py", tmp_path / "extra" / "a.csv"]
    dropped = [
        project / "generated" / "gen.py",
        project / "settings_local.py",
        project / ".venv" / "lib" / "x.py",
        project / "venv" / "x.py",
        project / "node_modules" / "x.py",
        project / "pkg" / "__pycache__" / "x.py",
        project / "notes.txt",
        project / ".pipeline.py.swp",
        project / "pipeline.py~",
        tmp_path / "elsewhere.py",
        tmp_path / "extra" / ".git" / "HEAD",
    ]
    assert [accept(None, str(p)) for p in kept] == [True] * len(kept)
    assert [accept(None, str(p)) for p in dropped] == [False] * len(dropped)
    flat, deep = accept.targets()
    assert flat == [project]
    assert {p.name for p in deep} == {"data", "pkg"}  # not .venv, generated, __pycache__


@pytest.mark.parametrize(
    ("rel", "is_dir", "ignored"),
    [
        ("build/x.py", False, True),
        ("src/build/x.py", False, True),
        ("build", False, False),  # `build/` matches folders only
        ("a_gen.py", False, True),
        ("pkg/a_gen.py", False, True),
        ("keep_gen.py", False, False),  # negated
        ("docs/conf.py", False, True),  # anchored
        ("src/docs/conf.py", False, False),
        ("deep/x/cache.py", False, True),  # **/
        ("ok.py", False, False),
    ],
)
def test_gitignore_fallback_matches_like_git(rel: str, is_dir: bool, ignored: bool) -> None:
    lines = ["# comment", "", "build/", "*_gen.py", "!keep_gen.py", "/docs/conf.py", "**/cache.py"]
    assert GitIgnore(lines)(rel, is_dir=is_dir) is ignored
    pathspec = pytest.importorskip("pathspec")
    spec = pathspec.GitIgnoreSpec.from_lines(lines)
    assert spec.match_file(rel + "/" if is_dir else rel) is ignored


def test_child_command_passes_the_inputs_on() -> None:
    assert child_command("f.py", "main", ["--n", "3"], module=False)[1:] == [
        "-m",
        "flyte_cli",
        "run",
        "f.py",
        "main",
        "--n",
        "3",
    ]
    assert child_command("pkg.mod", "main", [], module=True, quiet=True)[4:] == [
        "--quiet",
        "-m",
        "pkg.mod",
        "main",
    ]
