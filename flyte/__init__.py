"""flyte-local: the Flyte 2 programming model, local-first.

Example:
    import flyte

    env = flyte.TaskEnvironment("hello_world")

    @env.task
    def hello(name: str) -> str:
        return f"Hello, {name}!"

    run = flyte.run(hello, name="World")
    print(run.name, run.outputs()[0])
"""

from flyte import errors
from flyte._cache import Cache, CachePolicy
from flyte._cache_api import cache_api as cache
from flyte._context import ActionID, TaskContext, ctx
from flyte._deploy import Deployment, deploy
from flyte._environment import TaskEnvironment
from flyte._map import custom_context, group, map
from flyte._models import ActionKind, CacheStatus, Phase
from flyte._options import Backoff, Image, Resources, RetryStrategy, ReusePolicy, Secret, Timeout
from flyte._run import Run, RunContext, init, init_from_config, rerun, run, with_runcontext
from flyte._task import TaskTemplate
from flyte._trace import trace
from flyte.io import Dir, File

__version__ = "0.1.0"

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
    "map",
    "rerun",
    "run",
    "trace",
    "with_runcontext",
]
