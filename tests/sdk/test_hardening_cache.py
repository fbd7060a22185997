"""Cache and timeout holes the suite used to miss (issue 13, item 10).

Each test here was checked by breaking the code on purpose (leaving the interface out of
the key, not cancelling a timed-out body, not following function defaults) and watching
it fail.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import flyte
from flyte.errors import TaskTimeoutError

DRIVER = """
import importlib, json, sys
import flyte
module = importlib.import_module(sys.argv[1])
run = flyte.with_runcontext(echo=False).run(getattr(module, sys.argv[2]), **json.loads(sys.argv[3]))
print(json.dumps({"out": run.outputs()[0],
                  "cache": [a.cache_status.value for a in run.actions()]}))
"""


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir()
        (root / "driver.py").write_text(DRIVER)

    def write(self, source: str) -> None:
        (self.root / "work.py").write_text(textwrap.dedent(source))

    def run(self, task: str, **kwargs: Any) -> dict[str, Any]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLYTE_")}
        env["FLYTE_HOME"] = str(self.root / "home")
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        result = subprocess.run(
            [sys.executable, "driver.py", "work", task, json.dumps(kwargs)],
            cwd=self.root, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_changing_a_return_type_alias_is_a_cache_miss(tmp_path: Path) -> None:
    project = Project(tmp_path / "alias")
    source = """
        import flyte

        Number = {alias}
        env = flyte.TaskEnvironment("alias")


        @env.task(cache="auto")
        def halve(x: int) -> Number:
            return Number(x) / 2 if Number is float else x // 2
    """
    project.write(source.format(alias="int"))
    assert project.run("halve", x=5) == {"out": 2, "cache": ["written"]}
    assert project.run("halve", x=5) == {"out": 2, "cache": ["hit"]}
    # Same body, same source line `-> Number`: only the interface says the type changed.
    project.write(source.format(alias="float"))
    assert project.run("halve", x=5) == {"out": 2.5, "cache": ["written"]}


def test_a_function_default_argument_is_part_of_the_code_version(tmp_path: Path) -> None:
    project = Project(tmp_path / "defaults")
    source = """
        import flyte

        env = flyte.TaskEnvironment("defaults")


        def helper(v: int) -> int:
            return v + {step}


        @env.task(cache="auto")
        def apply(x: int, f=helper) -> int:
            return f(x)
    """
    project.write(source.format(step=1))
    assert project.run("apply", x=1) == {"out": 2, "cache": ["written"]}
    assert project.run("apply", x=1)["cache"] == ["hit"]
    project.write(source.format(step=10))
    assert project.run("apply", x=1) == {"out": 11, "cache": ["written"]}


def test_a_timed_out_async_body_is_cancelled_and_stops_its_side_effects(store: Any) -> None:
    env = flyte.TaskEnvironment("stops")
    ticks: list[int] = []

    @env.task(timeout=0.2)
    async def forever() -> int:
        while True:
            await asyncio.sleep(0.01)
            ticks.append(1)

    @env.task
    async def later() -> int:
        # Runs on the same event loop: a body still alive would tick ~20 more times.
        for _ in range(20):
            await asyncio.sleep(0.01)
        return 1

    with pytest.raises(TaskTimeoutError):
        flyte.with_runcontext(echo=False).run(forever)
    seen = len(ticks)
    assert seen > 0
    assert flyte.with_runcontext(echo=False).run(later).outputs()[0] == 1
    assert len(ticks) == seen, "the timed-out body kept running after TaskTimeoutError"
