"""Fixtures for the remote tests: a real `flyte serve` and clients pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from remote_helpers import TOKEN, Server, free_port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server per test module (starting one costs ~0.5 s); tests use their own runs."""
    home = tmp_path_factory.mktemp("server") / "home"
    running = Server(home=home, port=free_port(), token=TOKEN).start()
    yield running
    running.stop()


@pytest.fixture
def remote(server: Server, monkeypatch: pytest.MonkeyPatch) -> Server:
    """Point the SDK and the CLI of this test at `server` (through the environment)."""
    monkeypatch.setenv("FLYTE_ENDPOINT", server.endpoint)
    monkeypatch.setenv("FLYTE_API_KEY", TOKEN)
    return server


@pytest.fixture
def flyte_cli(cli_runner: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`flyte_cli(*args)` runs the CLI in-process (CliRunner) from the repository root."""
    from remote_helpers import REPO

    from flyte_cli.main import app

    monkeypatch.chdir(REPO)

    def invoke(*args: str) -> Any:
        return cli_runner.invoke(app, list(args), prog_name="flyte")

    return invoke
