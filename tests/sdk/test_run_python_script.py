"""`flyte.run_python_script`: a plain script run as a task in a worker process."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import flyte
from flyte import Phase
from flyte.errors import InvalidOptionError

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="process workers need fork")

SCRIPT = """
import os, sys
print("args", sys.argv[1:])
os.makedirs("out", exist_ok=True)
open(os.path.join("out", "result.txt"), "w").write("done")
if "--fail" in sys.argv:
    print("about to fail")
    sys.exit(3)
"""


def test_a_script_runs_with_its_args_and_returns_its_output_dir(
    sqlite_store: Any, tmp_path: Path
) -> None:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    run = flyte.run_python_script(
        script, cpu=1, memory="200Mi", extra_args=["--epochs", "2"],
        output_dir=str(tmp_path / "out"), wait=True,
    )  # fmt: skip
    out = run.outputs()[0]
    assert out.exit_code == 0
    assert out.stdout == "args ['--epochs', '2']\n"
    folder = Path(out.output_dir.download_sync())
    assert (folder / "result.txt").read_text() == "done"
    (action,) = run.actions()
    assert action.name == "python_script_train.execute_script"
    assert action.settings["resources"]["memory"] == "200Mi"
    logged = [line.line for line in sqlite_store.logs(run.name)]
    assert "args ['--epochs', '2']" in logged


def test_a_failing_script_fails_the_run_with_its_exit_code(
    sqlite_store: Any, tmp_path: Path
) -> None:
    script = tmp_path / "bad.py"
    script.write_text(SCRIPT)
    run = flyte.run_python_script(script, cpu=1, memory="200Mi", extra_args=["--fail"])
    run.wait(timeout=60)
    assert run.phase is Phase.FAILED
    assert "Script failed with exit code 3, last output: args ['--fail']\nabout to fail" in str(
        run.exception()
    )


def test_cluster_only_forms_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidOptionError, match="does not exist"):
        flyte.run_python_script(tmp_path / "missing.py")
    script = tmp_path / "s.py"
    script.write_text("print(1)")
    with pytest.raises(InvalidOptionError, match="clustered=True runs torchrun"):
        flyte.run_python_script(script, clustered=True, replicas=2, nproc_per_node=1)
    with pytest.raises(InvalidOptionError, match="only apply when clustered=True"):
        flyte.run_python_script(script, replicas=2)


PLUGIN_MODULE = """
from dataclasses import dataclass, field


@dataclass
class WorkerGroup:
    group_name: str
    replicas: int = 1


@dataclass
class ClusterConfig:
    workers: list[WorkerGroup] = field(default_factory=list)
    head_cpus: str = "1"
"""


def test_load_plugin_config_builds_nested_dataclasses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_plugin.py").write_text(PLUGIN_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "cluster.yaml"
    path.write_text(
        "plugin: my_plugin.ClusterConfig\n"
        "config:\n  workers:\n    - group_name: gpu\n      replicas: 2\n  head_cpus: '0'\n"
    )
    config = flyte.load_plugin_config(path)
    assert type(config).__name__ == "ClusterConfig"
    assert config.head_cpus == "0"
    assert [(w.group_name, w.replicas) for w in config.workers] == [("gpu", 2)]
    # Usable where upstream uses it: recorded on the environment.
    assert flyte.TaskEnvironment("with_plugin", plugin_config=config).plugin_config is config


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("config: {}\n", "top-level 'plugin' key"),
        ("plugin: no_such_module_here.Config\n", "could not load plugin config class"),
        ("plugin: my_plugin.ClusterConfig\nconfig:\n  nope: 1\n", "has no field 'nope'"),
    ],
)
def test_a_bad_plugin_config_file_says_what_is_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    (tmp_path / "my_plugin.py").write_text(PLUGIN_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InvalidOptionError, match=message):
        flyte.load_plugin_config(path)
