"""`import flyte` is cheap: no CLI, TUI, HTTP or watch dependencies, no side effects."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("typer", "textual", "httpx", "watchfiles", "rich")


def _python(code: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLYTE_")}
    env["FLYTE_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )


def test_import_flyte_loads_no_heavy_dependency(tmp_path: Path) -> None:
    code = (
        "import json, sys\n"
        "import flyte\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    proc = _python(code, tmp_path / "home")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_import_flyte_has_no_side_effects(tmp_path: Path) -> None:
    home = tmp_path / "home"
    code = (
        "import json, logging, sys\n"
        "hook = sys.excepthook\n"
        "handlers = list(logging.getLogger().handlers)\n"
        "import flyte\n"
        "print(json.dumps([sys.excepthook is hook, logging.getLogger().handlers == handlers,\n"
        "                  sys.stdout is sys.__stdout__]))\n"
    )
    proc = _python(code, home)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [True, True, True]
    assert not home.exists(), "import flyte must not create FLYTE_HOME or a store file"


# Loaded by a plain run only for what uses them (cluster-only settings, a server, reports,
# a sync body interrupted; os.urandom makes names and keys): each costs `python hello.py`
# time at start.
UNUSED_BY_A_PLAIN_RUN = (
    "flyte._cluster",
    "flyte.remote",
    "flyte.report",
    "html",
    "ctypes",
    "secrets",
)


def test_a_plain_run_loads_no_heavy_dependency_and_only_what_it_uses(tmp_path: Path) -> None:
    # Only what flyte loads counts: under `make test` coverage has loaded html already.
    code = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        "import flyte\n"
        "env = flyte.TaskEnvironment('imp')\n"
        "@env.task\n"
        "def f(x: int) -> int:\n"
        "    return x + 1\n"
        "assert flyte.run(f, 1).outputs()[0] == 2\n"
        "loaded = set(sys.modules) - before\n"
        f"print(json.dumps(sorted(m for m in {HEAVY + UNUSED_BY_A_PLAIN_RUN!r} if m in loaded)))\n"
    )
    proc = _python(code, tmp_path / "home")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
