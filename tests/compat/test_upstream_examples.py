"""Upstream's own example programs (verbatim copies) run here unchanged, as `python FILE`.

Each runs in its own process, from a copy of its folder, with an isolated FLYTE_HOME; it must
exit 0, print no traceback, and leave every run it started SUCCEEDED in the store.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flyte._models import Phase
from flyte._store.sqlite import SqliteRunStore

UPSTREAM = Path(__file__).resolve().parent / "upstream"
REPO = UPSTREAM.parents[2]
# Modules another program imports, not run alone: root_env.py's own `__main__` calls the
# tasks that deploy.py deploys first.
HELPERS = {"reference_tasks/root_env.py"}
# Programs are the files with a `__main__` block (as run_upstream.py picks them); the other
# files are modules they import.
PROGRAMS = sorted(
    p.relative_to(UPSTREAM).as_posix()
    for p in UPSTREAM.rglob("*.py")
    if "__main__" in p.read_text(encoding="utf-8")
    and p.relative_to(UPSTREAM).as_posix() not in HELPERS
)


def test_the_upstream_copies_are_there() -> None:
    assert len(PROGRAMS) >= 30


@pytest.mark.parametrize("program", PROGRAMS)
def test_upstream_example_runs_unchanged(program: str, tmp_path: Path) -> None:
    # A copy of the program's folder, so files the program writes land in tmp_path.
    work = tmp_path / "work"
    shutil.copytree((UPSTREAM / program).parent, work, ignore=shutil.ignore_patterns("__pycache__"))
    path = work / Path(program).name
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLYTE_")}
    env.update(FLYTE_HOME=str(home), PYTHONUNBUFFERED="1")
    # The checkout's flyte, whatever the current directory (as an installed package would be).
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.run(
        [sys.executable, path.name],
        cwd=path.parent,
        capture_output=True,
        text=True,
        env=env,
        timeout=90,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "dry-run" not in proc.stdout
    db = home / "runs.db"
    if db.exists():
        store = SqliteRunStore(db)
        runs = store.list_runs(limit=None)
        assert all(r.phase is Phase.SUCCEEDED for r in runs), [(r.name, r.phase) for r in runs]
        for r in runs:
            assert all(a.phase.is_terminal for a in store.list_actions(r.name)), r.name
