"""A new user's first session, driven through the real `flyte` binary in tmux.

Run, the live tree, the dashboard (open, filter, search, abort with confirmation) and watch
mode (an edit gives one summary line), read back from the screen as a person sees it.
`make tryout` runs only this. Skipped when tmux is not installed.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.skipif(shutil.which("tmux") is None, reason="the walkthrough needs tmux"),
    pytest.mark.skipif(os.name != "posix", reason="tmux"),
    pytest.mark.timeout(300),
]

REPO = Path(__file__).resolve().parents[2]

PIPELINE = """
import asyncio

import flyte

env = flyte.TaskEnvironment("walk", cache="auto")


def helper(x: int) -> int:
    return x + 1


@env.task
async def step(x: int) -> int:
    return helper(x)


@env.task(cache="disable")
async def main(n: int = 3) -> int:
    return sum(await asyncio.gather(*(step(i) for i in range(n))))
"""


class Tmux:
    """One tmux server of our own (`-L`), one window; keys in, screen text out."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.socket = f"flyte-walk-{uuid.uuid4().hex[:8]}"
        self.workdir = workdir
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        shell = f"env {exports} bash --norc --noprofile"
        self._tmux(
            "new-session", "-d", "-s", "walk", "-x", "120", "-y", "36", "-c", str(workdir), shell
        )

    def _tmux(self, *args: str) -> str:
        out = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30
        )
        return out.stdout

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", "walk", "-l", text)

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "walk", *keys)

    def run(self, command: str) -> None:
        self.type(command)
        self.keys("Enter")

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "walk")

    def history(self) -> str:
        return self._tmux("capture-pane", "-p", "-S", "-2000", "-t", "walk")

    def wait_for(self, check: Callable[[str], bool], what: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if check(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the screen:\n{text}")
            time.sleep(0.1)

    def kill(self) -> None:
        self._tmux("kill-server")


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname = 'walk'\n")
    (project / "pipe.py").write_text(PIPELINE)
    shutil.copy(REPO / "examples" / "slow.py", project / "slow.py")
    bindir = str(Path(sys.executable).parent)
    env = {
        "PATH": f"{bindir}:{os.environ.get('PATH', '')}",
        "FLYTE_HOME": str(tmp_path / "home"),
        "TERM": "xterm-256color",
        "PS1": "$ ",
        "HOME": str(tmp_path),
    }
    session = Tmux(project, env)
    yield session
    session.kill()


def _runs(home: Path) -> list[tuple[str, str]]:
    import sqlite3

    db = home / "runs.db"
    if not db.exists():
        return []
    conn = sqlite3.connect(db)
    try:
        return list(conn.execute("SELECT name, phase FROM runs ORDER BY created_at"))
    finally:
        conn.close()


def test_a_new_users_first_session(tmux: Tmux, tmp_path: Path) -> None:
    home = tmp_path / "home"

    # 1. A run, with its live tree: workers appear running, then the summary line.
    tmux.run("flyte run slow.py main --workers 2 --steps 6 --delay 0.3")
    live = tmux.wait_for(lambda s: "● work(worker=1" in s, "the live tree")
    assert "Ctrl-C aborts the run" in live
    done = tmux.wait_for(lambda s: "SUCCEEDED in" in s, "the end of the run")
    assert "3 actions: 3 ran, 0 cache hits" in done  # the root and two workers
    assert "✓ work(worker=1, steps=6, delay=0.3)" in done
    tmux.run("clear")

    # 2. The dashboard: a slow run to abort, then filter, search and abort with confirm.
    tmux.run("flyte run slow.py main --workers 2 --steps 1000 --delay 0.2 > /dev/null 2>&1 &")
    deadline = time.monotonic() + 60
    while not any(phase == "RUNNING" for _, phase in _runs(home)):
        assert time.monotonic() < deadline, "the background run never started"
        time.sleep(0.1)
    running = next(name for name, phase in _runs(home) if phase == "RUNNING")
    tmux.run("flyte tui")
    tmux.wait_for(lambda s: "flyte runs · 2 shown" in s, "the run list")
    tmux.keys("/")
    tmux.type("nothing-like-this")
    tmux.wait_for(lambda s: "flyte runs · 0 shown" in s, "an empty search")
    tmux.keys("Escape")
    tmux.wait_for(lambda s: "flyte runs · 2 shown" in s, "the search cleared")
    tmux.keys("/")
    tmux.type(running)
    tmux.keys("Enter")  # to the results
    tmux.wait_for(lambda s: "flyte runs · 1 shown" in s, "the search result")
    tmux.keys("Enter")  # open the run
    tmux.wait_for(lambda s: "running 3" in s and running in s, "the run screen")
    tmux.keys("a")
    tmux.wait_for(lambda s: f"Abort run {running}?" in s, "the confirmation")
    tmux.keys("y")
    tmux.wait_for(lambda s: "ABORTED" in s, "the run aborted", timeout=30)
    assert dict(_runs(home))[running] == "ABORTED"
    tmux.keys("q")
    tmux.wait_for(lambda s: s.rstrip().endswith("$"), "the shell prompt")
    tmux.run("clear")

    # 3. Watch mode: a run per save, each ending in one summary line; Ctrl-C stops.
    tmux.run("flyte run --watch pipe.py main")
    tmux.wait_for(lambda s: s.count("● SUCCEEDED") == 1, "the first watch run")
    pipe = tmux.workdir / "pipe.py"
    pipe.write_text(PIPELINE.replace("return x + 1", "return x + 2"))
    screen = tmux.wait_for(lambda s: s.count("● SUCCEEDED") == 2, "the run after the edit")
    summary = [line for line in screen.splitlines() if "● SUCCEEDED" in line][-1]
    assert "4 ran · 0 cache hits" in summary and "changed: pipe.py" in summary
    assert "# the action tree" not in screen and "Interrupted" not in screen
    assert not any(line.startswith("Run ") for line in screen.splitlines())
    tmux.keys("C-c")
    tmux.wait_for(lambda s: "stopped watching" in s, "the watch loop to stop")
