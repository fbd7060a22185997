"""`flyte.app` and `flyte.serve`: app environments validated as upstream, served locally."""

from __future__ import annotations

import socket
import sys
from typing import Any

import pytest

import flyte
import flyte.app
from flyte.app import AppEnvironment, Parameter, Port, Scaling
from flyte.errors import InvalidOptionError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Bad_Name"}, "must consist of lower case alphanumeric"),
        ({"name": "ok", "port": 9090}, "port 9090 is not allowed"),
        ({"name": "ok", "args": 3}, "args must be a list of strings or a string"),
        ({"name": "ok", "scaling": Scaling(replicas=(2, 5)), "links": ["x"]}, "links must be"),
        (
            {"name": "ok", "command": "python x.py", "parameters": [Parameter(name="p")]},
            "Cannot use 'parameters' with a custom 'command'",
        ),
    ],
)
def test_app_environments_are_validated_as_upstream(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidOptionError, match=message):
        AppEnvironment(**kwargs)


def test_scaling_and_ports_normalize_as_upstream() -> None:
    assert Scaling(replicas=3).get_replicas() == (3, 3)
    with pytest.raises(InvalidOptionError, match="max_replicas"):
        Scaling(replicas=(3, 1))
    env = AppEnvironment(name="api", port=8081)
    assert env.get_port() == Port(port=8081)
    assert env.endpoint == "http://localhost:8081"
    assert isinstance(env, flyte.Environment)
    assert flyte.app.ConnectorEnvironment(name="conn").get_port().name == "h2c"


def test_deploying_an_app_records_its_settings(
    sqlite_store: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    env = AppEnvironment(name="web", args="streamlit hello --server.port 8080")
    (deployment,) = flyte.deploy(env)
    assert deployment.app is not None
    assert deployment.app["command"] == ["streamlit", "hello", "--server.port", "8080"]
    assert deployment.table_repr()[0][0] == ("type", "App")


def test_serving_something_that_is_not_an_app_is_a_clear_error() -> None:
    env = flyte.TaskEnvironment("tasks_only")
    with pytest.raises(InvalidOptionError, match=r"needs a flyte\.app\.AppEnvironment"):
        flyte.serve(env)  # type: ignore[arg-type]


def test_an_app_whose_command_is_missing_says_so() -> None:
    env = AppEnvironment(name="missing", command="no-such-program-here --port 8080")
    with pytest.raises(InvalidOptionError, match="'no-such-program-here' is not installed"):
        flyte.with_servecontext(mode="local").serve(env)


def test_an_app_that_never_answers_times_out_and_is_stopped() -> None:
    port = free_port()
    env = AppEnvironment(
        name="silent", command=[sys.executable, "-c", "import time; time.sleep(60)"], port=port
    )
    app = flyte.with_servecontext(
        mode="local", activate_timeout=0.3, health_check_interval=0.05
    ).serve(env)
    with pytest.raises(TimeoutError, match=r"failed to become active within 0\.3 seconds"):
        app.activate(wait=True)
    assert not app.is_deactivated()
    app.deactivate(wait=True)
    assert app.is_deactivated()


def test_a_server_function_that_fails_reports_why() -> None:
    env = AppEnvironment(name="broken", port=free_port())

    @env.server
    def serve() -> None:
        raise ValueError("no config file")

    app = flyte.with_servecontext(mode="local", health_check_interval=0.05).serve(env)
    with pytest.raises(RuntimeError, match="stopped before it answered: ValueError: no config"):
        app.activate(wait=True)


def test_parameters_reach_the_server_function_and_get_parameter() -> None:
    port = free_port()
    seen: dict[str, str] = {}
    env = AppEnvironment(
        name="params", port=port, parameters=[Parameter(name="model", value="small")]
    )

    @env.server
    async def serve(model: str) -> None:
        import asyncio

        seen["arg"] = model
        seen["get"] = flyte.app.get_parameter("model")
        server = await asyncio.start_server(_answer, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    app = flyte.with_servecontext(
        mode="local", health_check_interval=0.05, parameter_values={"params": {"model": "big"}}
    ).serve(env)
    with app.ephemeral_ctx_sync():
        assert app.is_active()
    assert seen == {"arg": "big", "get": "big"}
    assert app.is_deactivated()


async def _answer(reader: Any, writer: Any) -> None:
    await reader.readline()
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    await writer.drain()
    writer.close()


def test_deactivating_an_app_while_it_starts_up_stops_it() -> None:
    """`deactivate` during a sync `on_startup` found the app's loop not running yet and
    skipped stopping it: the server then started and served on, with its port held."""
    import threading
    import time

    port = free_port()
    env = AppEnvironment(name="slow-start", port=port)
    starting, release = threading.Event(), threading.Event()

    @env.on_startup
    def warm_up() -> None:
        starting.set()
        assert release.wait(10)

    @env.server
    async def serve() -> None:
        import asyncio

        server = await asyncio.start_server(_answer, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    app = flyte.with_servecontext(mode="local", health_check_interval=0.05).serve(env)
    try:
        assert starting.wait(10)
        app.deactivate()
        release.set()
        deadline = time.monotonic() + 10
        while not app.is_deactivated():
            assert time.monotonic() < deadline, "the app kept serving after deactivate()"
            time.sleep(0.01)
        assert not app.is_active()
    finally:
        release.set()
        app.deactivate(wait=True)
