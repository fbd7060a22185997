"""`flyte.app.AppEnvironment`: a long-running app (API, dashboard, model server).

Locally an app is served by `flyte.serve(app_env)` / `flyte.with_servecontext(...)`: its
`@app_env.server` function in a thread, or its `command` / `args` as a process. On a
cluster it is deployed and scaled; those settings are validated and recorded here.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flyte._cluster import Environment
from flyte._options import Resources
from flyte.app._parameter import Parameter
from flyte.app._types import Domain, Link, Port, Scaling, Timeouts
from flyte.errors import InvalidOptionError

__all__ = ["AppEnvironment", "ConnectorEnvironment"]

_APP_NAME_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(kw_only=True)
class AppEnvironment(Environment):
    """A long-running app: its process (`server` function, `command` or `args`) and port.

    Example:
        app_env = flyte.app.AppEnvironment(name="my-api", port=8080, args="python server.py")
        local = flyte.with_servecontext(mode="local").serve(app_env)
        local.activate(wait=True)
    """

    image: Any = "auto"
    resources: Resources | None = None
    env_vars: dict[str, str] | None = None
    secrets: Any = None
    pod_template: Any = None
    interruptible: bool = False
    include: tuple[str, ...] = ()
    type: str | None = None
    port: int | Port = 8080
    args: list[str] | str | None = None
    command: list[str] | str | None = None
    requires_auth: bool = True
    scaling: Scaling = field(default_factory=Scaling)
    domain: Domain | None = field(default_factory=Domain)
    links: list[Link] = field(default_factory=list)
    parameters: list[Parameter] = field(default_factory=list)
    cluster_pool: str = "default"
    timeouts: Timeouts = field(default_factory=Timeouts)
    _server: Callable[..., Any] | None = field(init=False, default=None, repr=False)
    _on_startup: Callable[..., Any] | None = field(init=False, default=None, repr=False)
    _on_shutdown: Callable[..., Any] | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _APP_NAME_RE.fullmatch(self.name):
            raise InvalidOptionError(
                f"App name {self.name!r} must consist of lower case alphanumeric characters or "
                "'-', and must start and end with an alphanumeric character."
            )
        for what, value in (("args", self.args), ("command", self.command)):
            if value is not None and not isinstance(value, list | str):
                raise InvalidOptionError(
                    f"{what} must be a list of strings or a string, got {value!r}"
                )
        if isinstance(self.port, int):
            self.port = Port(port=self.port)
        elif not isinstance(self.port, Port):
            raise InvalidOptionError(f"port must be an int or flyte.app.Port, got {self.port!r}")
        if self.resources is not None and not isinstance(self.resources, Resources):
            raise InvalidOptionError(
                f"resources must be flyte.Resources(...), got {self.resources!r}"
            )
        checks: tuple[tuple[str, Any, Any], ...] = (
            ("scaling", self.scaling, Scaling),
            ("domain", self.domain, Domain | None),
            ("timeouts", self.timeouts, Timeouts),
        )
        for what, value, kind in checks:
            if not isinstance(value, kind):
                raise InvalidOptionError(
                    f"{what} must be flyte.app.{what.title()}(...), got {value!r}"
                )
        for link in self.links:
            if not isinstance(link, Link):
                raise InvalidOptionError(f"links must be flyte.app.Link(...), got {link!r}")
        for parameter in self.parameters:
            if not isinstance(parameter, Parameter):
                raise InvalidOptionError(
                    f"parameters must be flyte.app.Parameter(...), got {parameter!r}"
                )
        if self.parameters and self.command is not None:
            head = self.command.split()[0] if isinstance(self.command, str) else self.command[0]
            if head != "fserve":
                raise InvalidOptionError(
                    "Cannot use 'parameters' with a custom 'command' that doesn't start with "
                    "'fserve'; use 'args' instead of 'command', or @app_env.server"
                )
        for key, value in (self.env_vars or {}).items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise InvalidOptionError(f"env_vars must map str to str, got {key!r}: {value!r}")
        self.include = tuple(self.include)
        self.depends_on = list(self.depends_on)

    def server(self, fn: F) -> F:
        """Decorate the function that runs the app's server (sync or async)."""
        self._server = fn
        return fn

    def on_startup(self, fn: F) -> F:
        """Decorate a function run before the server function."""
        self._on_startup = fn
        return fn

    def on_shutdown(self, fn: F) -> F:
        """Decorate a function run after the server function returns."""
        self._on_shutdown = fn
        return fn

    def get_port(self) -> Port:
        if isinstance(self.port, int):
            self.port = Port(port=self.port)
        return self.port

    @property
    def endpoint(self) -> str:
        """Where the app answers: this machine, at its port (apps are served locally here)."""
        return f"http://localhost:{self.get_port().port}"

    def process_command(self) -> list[str]:
        """The command line of a command / args app (as upstream splits it)."""
        value = self.command if self.command is not None else self.args
        if value is None:
            return []
        return shlex.split(value) if isinstance(value, str) else list(value)

    def clone_with(self, name: str, **kwargs: Any) -> AppEnvironment:
        """A copy under a new name with some fields replaced (upstream's `clone_with`)."""
        known = {f.name for f in dataclasses.fields(self) if f.init}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise InvalidOptionError(f"Unexpected keyword arguments: {unknown}")
        clone = dataclasses.replace(self, name=name, **kwargs)
        clone._server, clone._on_startup, clone._on_shutdown = (
            self._server,
            self._on_startup,
            self._on_shutdown,
        )
        return clone

    def settings(self) -> dict[str, Any]:
        """What is recorded for the app when it is deployed or served."""
        from flyte._cluster import describe

        port = self.get_port()
        return {
            "type": self.type,
            "port": port.port,
            "command": self.process_command() or None,
            "server": getattr(self._server, "__qualname__", None),
            "requires_auth": self.requires_auth,
            "replicas": list(self.scaling.get_replicas()),
            "resources": self.resources.to_dict() if self.resources is not None else None,
            "image": describe(self.image),
            "links": [link.path for link in self.links],
            "parameters": [p.name for p in self.parameters],
            "cluster_pool": self.cluster_pool,
        }


@dataclass(kw_only=True)
class ConnectorEnvironment(AppEnvironment):
    """An app running Flyte connectors (`include` names the connector modules)."""

    type: str | None = "connector"
    port: int | Port = field(default_factory=lambda: Port(port=8080, name="h2c"))
