"""Long-running apps (upstream's `flyte.app`): defined, validated, served on this machine.

Example:
    import flyte
    from flyte.app import AppEnvironment

    app_env = AppEnvironment(name="static", command="python -m http.server 8082", port=8082)
    local = flyte.with_servecontext(mode="local", health_check_path="/").serve(app_env)
    local.activate(wait=True)
    ...
    local.deactivate(wait=True)
"""

from __future__ import annotations

from flyte.app._context import AppContext, ctx
from flyte.app._environment import AppEnvironment, ConnectorEnvironment
from flyte.app._parameter import AppEndpoint, ArtifactValue, Parameter, RunOutput, get_parameter
from flyte.app._types import Domain, Link, Port, Scaling, Timeouts

__all__ = [
    "AppContext",
    "AppEndpoint",
    "AppEnvironment",
    "ArtifactValue",
    "ConnectorEnvironment",
    "Domain",
    "Link",
    "Parameter",
    "Port",
    "RunOutput",
    "Scaling",
    "Timeouts",
    "ctx",
    "get_parameter",
]
