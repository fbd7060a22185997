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
    from flyte import errors, io, remote
    from flyte._cache import Cache, CachePolicy
    from flyte._cache_api import cache_api as cache
    from flyte._context import ActionID, TaskContext, ctx
    from flyte._deploy import Deployment, deploy
    from flyte._environment import TaskEnvironment
    from flyte._map import custom_context, group, map
    from flyte._models import ActionKind, CacheStatus, Phase
    from flyte._options import (
        Backoff,
        Image,
        Resources,
        RetryStrategy,
        ReusePolicy,
        Secret,
        Timeout,
    )
    from flyte._run import Run, RunContext, init, init_from_config, rerun, run, with_runcontext
    from flyte._task import TaskTemplate
    from flyte._trace import trace
    from flyte.io import Dir, File

__version__ = "0.1.0"

_LAZY: dict[str, tuple[str, str | None]] = {
    "ActionID": ("flyte._context", None),
    "ActionKind": ("flyte._models", None),
    "Backoff": ("flyte._options", None),
    "Cache": ("flyte._cache", None),
    "CachePolicy": ("flyte._cache", None),
    "CacheStatus": ("flyte._models", None),
    "Deployment": ("flyte._deploy", None),
    "Dir": ("flyte.io", None),
    "File": ("flyte.io", None),
    "Image": ("flyte._options", None),
    "Phase": ("flyte._models", None),
    "Resources": ("flyte._options", None),
    "RetryStrategy": ("flyte._options", None),
    "ReusePolicy": ("flyte._options", None),
    "Run": ("flyte._run", None),
    "RunContext": ("flyte._run", None),
    "Secret": ("flyte._options", None),
    "TaskContext": ("flyte._context", None),
    "TaskEnvironment": ("flyte._environment", None),
    "TaskTemplate": ("flyte._task", None),
    "Timeout": ("flyte._options", None),
    "cache": ("flyte._cache_api", "cache_api"),
    "ctx": ("flyte._context", None),
    "custom_context": ("flyte._map", None),
    "deploy": ("flyte._deploy", None),
    "errors": ("flyte.errors", ""),
    "group": ("flyte._map", None),
    "init": ("flyte._run", None),
    "init_from_config": ("flyte._run", None),
    "io": ("flyte.io", ""),
    "map": ("flyte._map", None),
    "remote": ("flyte.remote", ""),
    "rerun": ("flyte._run", None),
    "run": ("flyte._run", None),
    "trace": ("flyte._trace", None),
    "with_runcontext": ("flyte._run", None),
}

__all__ = [
    "ActionID",
    "ActionKind",
    "Backoff",
    "Cache",
    "CachePolicy",
    "CacheStatus",
    "Deployment",
    "Dir",
    "File",
    "Image",
    "Phase",
    "Resources",
    "RetryStrategy",
    "ReusePolicy",
    "Run",
    "RunContext",
    "Secret",
    "TaskContext",
    "TaskEnvironment",
    "TaskTemplate",
    "Timeout",
    "__version__",
    "cache",
    "ctx",
    "custom_context",
    "deploy",
    "errors",
    "group",
    "init",
    "init_from_config",
    "io",
    "map",
    "remote",
    "rerun",
    "run",
    "trace",
    "with_runcontext",
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
