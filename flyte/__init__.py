"""flyte-local: the Flyte 2 programming model, local-first.

Example:
    import flyte

    env = flyte.TaskEnvironment("hello_world")

    @env.task
    def hello(name: str) -> str:
        return f"Hello, {name}!"

    run = flyte.run(hello, name="World")
    print(run.name, run.outputs()[0])

Names are imported on first use (PEP 562), so `import flyte.errors` or a CLI completion
does not pay for the whole SDK; type checkers see the imports under TYPE_CHECKING.
"""

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from flyte import app, durable, errors, io, models, notify, remote, report, storage
    from flyte._cache import Cache, CachePolicy, CacheRequest
    from flyte._cache_api import cache_api as cache
    from flyte._checkpoint import BaseCheckpoint, Checkpoint, latest_checkpoint
    from flyte._cluster import (
        Cron,
        Documentation,
        Environment,
        FixedRate,
        Link,
        OnArtifact,
        PodTemplate,
        Trigger,
        TriggeredArtifact,
        TriggerTime,
    )
    from flyte._context import ActionID, TaskContext, ctx
    from flyte._deploy import Deployment
    from flyte._devices import AMD_GPU, GPU, HABANA_GAUDI, TPU, Device, DeviceClass, Neuron
    from flyte._environment import TaskEnvironment
    from flyte._init import (
        ImageBuild,
        build,
        build_images,
        current_domain,
        current_project,
        deploy,
        get_custom_context,
        init,
        init_from_api_key,
        init_from_config,
        init_in_cluster,
        init_passthrough,
        is_control_plane_available,
        rerun,
        version,
    )
    from flyte._logger import logger, system_logger
    from flyte._map import custom_context, group, map
    from flyte._models import ActionKind, CacheStatus, Phase
    from flyte._options import (
        Backoff,
        Image,
        Resources,
        RetryStrategy,
        ReusePolicy,
        Secret,
        SecretRequest,
        Timeout,
        TimeoutType,
    )
    from flyte._run import Run, RunContext, run, with_runcontext
    from flyte._run_python_script import load_plugin_config, run_python_script
    from flyte._serve import AppHandle, serve, with_servecontext
    from flyte._task import TaskTemplate
    from flyte._task import TaskTemplate as AsyncFunctionTaskTemplate
    from flyte._trace import trace
    from flyte.io import Dir, File

__version__ = "0.1.0"

_LAZY: dict[str, tuple[str, str | None]] = {
    "AMD_GPU": ("flyte._devices", None),
    "ActionID": ("flyte._context", None),
    "ActionKind": ("flyte._models", None),
    "AppHandle": ("flyte._serve", None),
    "AsyncFunctionTaskTemplate": ("flyte._task", "TaskTemplate"),
    "Backoff": ("flyte._options", None),
    "BaseCheckpoint": ("flyte._checkpoint", None),
    "Cache": ("flyte._cache", None),
    "CachePolicy": ("flyte._cache", None),
    "CacheRequest": ("flyte._cache", None),
    "CacheStatus": ("flyte._models", None),
    "Checkpoint": ("flyte._checkpoint", None),
    "Cron": ("flyte._cluster", None),
    "Deployment": ("flyte._deploy", None),
    "Device": ("flyte._devices", None),
    "DeviceClass": ("flyte._devices", None),
    "Dir": ("flyte.io", None),
    "Documentation": ("flyte._cluster", None),
    "Environment": ("flyte._cluster", None),
    "File": ("flyte.io", None),
    "FixedRate": ("flyte._cluster", None),
    "GPU": ("flyte._devices", None),
    "HABANA_GAUDI": ("flyte._devices", None),
    "Image": ("flyte._options", None),
    "ImageBuild": ("flyte._init", None),
    "Link": ("flyte._cluster", None),
    "Neuron": ("flyte._devices", None),
    "OnArtifact": ("flyte._cluster", None),
    "Phase": ("flyte._models", None),
    "PodTemplate": ("flyte._cluster", None),
    "Resources": ("flyte._options", None),
    "RetryStrategy": ("flyte._options", None),
    "ReusePolicy": ("flyte._options", None),
    "Run": ("flyte._run", None),
    "RunContext": ("flyte._run", None),
    "Secret": ("flyte._options", None),
    "SecretRequest": ("flyte._options", None),
    "TPU": ("flyte._devices", None),
    "TaskContext": ("flyte._context", None),
    "TaskEnvironment": ("flyte._environment", None),
    "TaskTemplate": ("flyte._task", None),
    "Timeout": ("flyte._options", None),
    "TimeoutType": ("flyte._options", None),
    "Trigger": ("flyte._cluster", None),
    "TriggerTime": ("flyte._cluster", None),
    "TriggeredArtifact": ("flyte._cluster", None),
    "app": ("flyte.app", ""),
    "build": ("flyte._init", None),
    "build_images": ("flyte._init", None),
    "cache": ("flyte._cache_api", "cache_api"),
    "ctx": ("flyte._context", None),
    "current_domain": ("flyte._init", None),
    "current_project": ("flyte._init", None),
    "custom_context": ("flyte._map", None),
    "deploy": ("flyte._init", None),
    "durable": ("flyte.durable", ""),
    "errors": ("flyte.errors", ""),
    "get_custom_context": ("flyte._init", None),
    "group": ("flyte._map", None),
    "init": ("flyte._init", None),
    "init_from_api_key": ("flyte._init", None),
    "init_from_config": ("flyte._init", None),
    "init_in_cluster": ("flyte._init", None),
    "init_passthrough": ("flyte._init", None),
    "io": ("flyte.io", ""),
    "is_control_plane_available": ("flyte._init", None),
    "latest_checkpoint": ("flyte._checkpoint", None),
    "load_plugin_config": ("flyte._run_python_script", None),
    "logger": ("flyte._logger", None),
    "map": ("flyte._map", None),
    "models": ("flyte.models", ""),
    "notify": ("flyte.notify", ""),
    "remote": ("flyte.remote", ""),
    "report": ("flyte.report", ""),
    "rerun": ("flyte._init", None),
    "run": ("flyte._run", None),
    "run_python_script": ("flyte._run_python_script", None),
    "serve": ("flyte._serve", None),
    "storage": ("flyte.storage", ""),
    "system_logger": ("flyte._logger", None),
    "trace": ("flyte._trace", None),
    "version": ("flyte._init", None),
    "with_runcontext": ("flyte._run", None),
    "with_servecontext": ("flyte._serve", None),
}

__all__ = [
    "AMD_GPU",
    "ActionID",
    "ActionKind",
    "AppHandle",
    "AsyncFunctionTaskTemplate",
    "Backoff",
    "BaseCheckpoint",
    "Cache",
    "CachePolicy",
    "CacheRequest",
    "CacheStatus",
    "Checkpoint",
    "Cron",
    "Deployment",
    "Device",
    "DeviceClass",
    "Dir",
    "Documentation",
    "Environment",
    "File",
    "FixedRate",
    "GPU",
    "HABANA_GAUDI",
    "Image",
    "ImageBuild",
    "Link",
    "Neuron",
    "OnArtifact",
    "Phase",
    "PodTemplate",
    "Resources",
    "RetryStrategy",
    "ReusePolicy",
    "Run",
    "RunContext",
    "Secret",
    "SecretRequest",
    "TPU",
    "TaskContext",
    "TaskEnvironment",
    "TaskTemplate",
    "Timeout",
    "TimeoutType",
    "Trigger",
    "TriggerTime",
    "TriggeredArtifact",
    "__version__",
    "app",
    "build",
    "build_images",
    "cache",
    "ctx",
    "current_domain",
    "current_project",
    "custom_context",
    "deploy",
    "durable",
    "errors",
    "get_custom_context",
    "group",
    "init",
    "init_from_api_key",
    "init_from_config",
    "init_in_cluster",
    "init_passthrough",
    "io",
    "is_control_plane_available",
    "latest_checkpoint",
    "load_plugin_config",
    "logger",
    "map",
    "models",
    "notify",
    "remote",
    "report",
    "rerun",
    "run",
    "run_python_script",
    "serve",
    "storage",
    "system_logger",
    "trace",
    "version",
    "with_runcontext",
    "with_servecontext",
]


def __getattr__(name: str) -> _typing.Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'flyte' has no attribute {name!r}") from None
    module = _importlib.import_module(module_name)
    value = module if attr == "" else getattr(module, attr or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
