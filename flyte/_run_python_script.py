"""`flyte.run_python_script`: run a plain Python script as a task, with its own resources.

As upstream: the script runs as `python -u SCRIPT ARGS...` inside a task of an environment
`python_script_<stem>` that asks for the given cpu / memory (here: a worker process of this
machine, so requests larger than the machine are lowered to it, with a note). Its output
is streamed into the action's logs; the task returns a `PythonScriptOutput`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flyte._aio import twin

if TYPE_CHECKING:
    from flyte._run import Run
    from flyte.io import Dir

__all__ = ["PythonScriptOutput", "load_plugin_config", "run_python_script"]


@dataclass
class PythonScriptOutput:
    """What a script run returns: its exit code, the tail of its output, its output folder."""

    exit_code: int
    stdout: str
    output_dir: Dir | None = None


def _script_task(env: Any, script: Path, timeout: int, output_dir: str | None) -> Any:
    @env.task(timeout=timeout, short_name=script.name)
    def execute_script(args: list[str]) -> PythonScriptOutput:
        """Run the script; fail with its exit code and last lines when it fails."""
        import collections
        import subprocess
        import sys

        tail: collections.deque[str] = collections.deque(maxlen=80)
        proc = subprocess.Popen(
            [sys.executable, "-u", str(script), *args],
            cwd=script.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                sys.stdout.write(line)
                tail.append(line)
            proc.wait()
        finally:
            if proc.poll() is None:  # stopped (timeout, abort): the script stops too
                proc.kill()
                proc.wait()
        last = "".join(tail)
        if proc.returncode != 0:
            raise RuntimeError(
                f"Script failed with exit code {proc.returncode}, last output: {last}"
            )
        folder: Dir | None = None
        if output_dir:
            from flyte.io import Dir

            folder = Dir.from_local_sync(output_dir)
        return PythonScriptOutput(exit_code=proc.returncode, stdout=last, output_dir=folder)

    return execute_script


def _run_python_script(
    script: Path | str,
    *,
    cpu: int = 4,
    memory: str = "16Gi",
    gpu: int = 0,
    gpu_type: str = "T4",
    image: Any = None,
    timeout: int = 3600,
    extra_args: list[str] | None = None,
    queue: str | None = None,
    wait: bool = False,
    name: str | None = None,
    debug: bool = False,
    output_dir: str | None = None,
    include_files: list[str] | None = None,
    plugin_config: Any = None,
    clustered: bool = False,
    replicas: int | None = None,
    nproc_per_node: int | None = None,
    runtime: Any = None,
    failure_policy: Any = None,
    ttl_seconds_after_finished: int | None = None,
) -> Run:
    """Run a Python script as a task with the given resources; the run's handle.

    Args:
        script: the script to run (`python -u SCRIPT *extra_args`, from its folder).
        cpu: CPUs to ask for (at most this machine's).
        memory: memory to ask for, e.g. "16Gi" (at most this machine's): the worker's limit.
        gpu: GPUs to ask for (recorded; `gpu_type` names them).
        image: a `flyte.Image` or a list of pip packages (recorded; the script runs with
            this interpreter's packages).
        timeout: seconds before the script is stopped.
        extra_args: arguments passed to the script.
        wait: wait for the run to end before returning.
        name: the run's name.
        output_dir: a folder the script writes; returned as `output_dir` (a `flyte.io.Dir`).
        queue, debug, include_files, plugin_config: cluster settings, recorded.
        clustered, replicas, nproc_per_node, runtime, failure_policy,
            ttl_seconds_after_finished: multi-node torchrun on a cluster's JobSet.

    Raises:
        InvalidOptionError: the script does not exist, or `clustered=True` (multi-node
            runs need a Flyte cluster).
    """
    import flyte
    from flyte._cluster import note
    from flyte._controller.process import machine_capacity
    from flyte._options import parse_memory
    from flyte._run import with_runcontext
    from flyte.errors import InvalidOptionError

    path = Path(script).resolve()
    if not path.is_file():
        raise InvalidOptionError(f"script {script} does not exist; pass the path of a .py file")
    if clustered:
        raise InvalidOptionError(
            "clustered=True runs torchrun across the nodes of a Flyte cluster's JobSet; "
            "on this machine run the script without clustered="
        )
    if any(v is not None for v in (replicas, nproc_per_node, runtime, failure_policy,
                                   ttl_seconds_after_finished)):  # fmt: skip
        raise InvalidOptionError(
            "replicas, nproc_per_node, runtime, failure_policy, and ttl_seconds_after_finished "
            "only apply when clustered=True."
        )
    cpus, mem_bytes = machine_capacity()
    use_cpu: float = cpu
    if cpu > cpus:
        note(
            f"run_python_script(cpu={cpu})", f"this machine has {cpus:g} CPUs; the script gets them"
        )
        use_cpu = cpus
    use_memory: str = memory
    if parse_memory(memory) > mem_bytes:
        note(f"run_python_script(memory={memory!r})", "it is more than this machine has")
        use_memory = f"{mem_bytes // 2**20}Mi"
    resources = flyte.Resources(
        cpu=use_cpu, memory=use_memory, gpu=f"{gpu_type}:{gpu}" if gpu > 0 else None
    )
    if isinstance(image, list):
        note(
            "run_python_script(image=[packages])",
            "the script runs with this interpreter's packages",
        )
        image = None
    stem = re.sub(r"[^A-Za-z0-9_-]", "_", path.stem)
    env = flyte.TaskEnvironment(
        f"python_script_{stem}",
        resources=resources,
        image=image if image is not None else "auto",
        queue=queue,
        include=tuple(include_files or ()),
        plugin_config=plugin_config,
    )
    if debug:
        note("run_python_script(debug=True)", "debug sessions run in a cluster's task pod")
    task = _script_task(env, path, timeout, output_dir)
    context = with_runcontext(name=name) if name else with_runcontext()
    args = list(extra_args or [])
    return context.run(task, args) if wait else context.start(task, args)


run_python_script = twin(_run_python_script, blocking=True)


def load_plugin_config(path: str | Path) -> Any:
    """A plugin config object built from a YAML file (upstream's `flyte.load_plugin_config`).

    The file names the class under `plugin` (fully qualified) and its arguments under
    `config`, nested dataclasses as nested mappings:

        plugin: flyteplugins.ray.RayJobConfig
        config:
          worker_node_config:
            - group_name: workers
              replicas: 2

    Raises:
        InvalidOptionError: the file, the class or its fields are not what is described above.
    """
    import dataclasses
    import importlib

    from flyte._coerce import coerce_value
    from flyte.errors import InvalidOptionError

    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        raise InvalidOptionError(
            "reading a plugin config file needs PyYAML: pip install pyyaml"
        ) from None
    source = Path(path)
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidOptionError(f"cannot read plugin config file {source}: {exc}") from None
    if not isinstance(raw, dict) or "plugin" not in raw:
        raise InvalidOptionError(
            f"plugin config file {source} must be a YAML mapping with a top-level 'plugin' key "
            "(the fully qualified class name), e.g. 'plugin: flyteplugins.ray.RayJobConfig'"
        )
    qualified = str(raw["plugin"])
    module_name, _, attr = qualified.rpartition(".")
    try:
        cls: Any = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise InvalidOptionError(
            f"could not load plugin config class {qualified!r}: {exc}; install its package "
            "and name it fully, e.g. 'flyteplugins.ray.RayJobConfig'"
        ) from None
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise InvalidOptionError(f"{qualified} is not a dataclass; a plugin config is one")
    config = raw.get("config") or {}
    if not isinstance(config, dict):
        raise InvalidOptionError(f"plugin config file {source}: 'config' must be a mapping")
    return coerce_value(cls, config, what=f"plugin config {source.name}")
