"""Fixtures for the CLI tests: invoke `flyte` in-process from the repository root."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import REPO, Invoke


@pytest.fixture
def flyte(cli_runner: Any, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """`flyte(*args)` runs the CLI with CliRunner from the repository root; returns the Result."""
    from flyte_cli.main import app

    monkeypatch.chdir(REPO)

    def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
        return cli_runner.invoke(app, list(args), prog_name="flyte", env=env)

    return invoke


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], str]:
    """`write(name, source)` writes a dedented Python file under tmp_path; returns its path."""

    def write_file(name: str, source: str) -> str:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
        return str(path)

    return write_file
