"""What `flyte.run` ships to a server: the task's module and the local modules it imports."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def project(tmp_path: Path) -> Any:
    root = tmp_path / "proj"
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "sub" / "__init__.py").write_text("")
    (root / "pkg" / "sub" / "helpers.py").write_text("def double(x):\n    return 2 * x\n")
    (root / "pkg" / "unused.py").write_text("X = 1\n")
    (root / "pkg" / "flow.py").write_text(
        textwrap.dedent(
            """
            import json

            import flyte
            from pkg.sub.helpers import double

            env = flyte.TaskEnvironment("bundle_flow")

            @env.task
            def main(x: int) -> int:
                return double(x) + len(json.dumps(x))
            """
        )
    )
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module("pkg.flow")
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == "pkg" or m.startswith("pkg.")]:
            del sys.modules[name]


def test_the_module_and_its_local_imports_are_shipped(project: Any) -> None:
    from flyte.remote._bundle import bundle_task, local_module_files

    files = local_module_files(project)
    assert sorted(files) == [
        "pkg/__init__.py",
        "pkg/flow.py",
        "pkg/sub/__init__.py",
        "pkg/sub/helpers.py",
    ]  # not pkg/unused.py (never imported), not json or flyte (not the user's)
    bundle = bundle_task(project.main)
    assert (bundle["task"], bundle["module"], bundle["function"]) == (
        "bundle_flow.main",
        "pkg.flow",
        "main",
    )
    assert bundle["files"] == files
    assert bundle["snapshot"]


def test_an_unreadable_module_is_left_to_the_snapshot(project: Any) -> None:
    from flyte.remote._bundle import local_module_files

    helpers = Path(project.__file__).parent / "sub" / "helpers.py"
    helpers.write_bytes(b"# \xff\xfe not utf-8\n")
    assert "pkg/sub/helpers.py" not in local_module_files(project)
