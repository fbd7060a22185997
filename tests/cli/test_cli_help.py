"""Every command has help that ends with Examples; `flyte` alone prints the help."""

from __future__ import annotations

from typing import Any

import pytest
import typer.main
from cli_helpers import Invoke


def _paths() -> list[tuple[str, ...]]:
    """Every static command path: (), ("run",), ("get", "runs"), ..."""
    from typer._click import Context

    from flyte_cli.main import app

    found: list[tuple[str, ...]] = [()]
    stack: list[tuple[tuple[str, ...], Any]] = [((), typer.main.get_command(app))]
    while stack:
        path, command = stack.pop()
        if not hasattr(command, "list_commands"):
            continue
        ctx = Context(command)
        for name in command.list_commands(ctx):
            found.append((*path, name))
            stack.append(((*path, name), command.get_command(ctx, name)))
    return sorted(found)


PATHS = _paths()


def test_every_verb_is_there() -> None:
    names = {p[0] for p in PATHS if p}
    assert names == {
        "run", "rerun", "deploy", "tui", "get", "logs", "abort", "cache", "delete", "gc", "db",
        "serve",
    }  # fmt: skip
    assert {p[1] for p in PATHS if len(p) == 2 and p[0] == "get"} == {
        "runs", "run", "actions", "io", "report", "tasks", "cache",
    }  # fmt: skip
    assert ("cache", "clear") in PATHS and ("delete", "run") in PATHS
    assert {p[1] for p in PATHS if len(p) == 2 and p[0] == "db"} == {
        "stats", "check", "vacuum", "query",
    }  # fmt: skip


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "flyte")
def test_help_ends_with_examples(flyte: Invoke, path: tuple[str, ...]) -> None:
    result = flyte(*path, "--help")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "Usage: flyte" in text
    tail = text[text.rindex("Examples:") :]
    assert "flyte " in tail
    assert "Options:" not in tail and "Commands:" not in tail  # Examples is the last section


def test_dynamic_help_ends_with_examples(flyte: Invoke) -> None:
    for args in (("run", "examples/hello.py"), ("run", "examples/hello.py", "main")):
        text = flyte(*args, "--help").stdout
        assert "Options:" not in text[text.rindex("Examples:") :]


def test_no_arguments_prints_the_help(flyte: Invoke) -> None:
    result = flyte()
    assert result.exit_code == 0
    for section in ("Run:", "Inspect:", "Manage:"):
        assert section in result.stdout
    assert "-h" in flyte("-h").stdout


def test_version(flyte: Invoke) -> None:
    result = flyte("--version")
    assert result.exit_code == 0 and result.stdout.startswith("flyte-local ")


def test_verbose_shows_the_traceback_of_a_usage_error(flyte: Invoke) -> None:
    quiet = flyte("get", "run", "nope")
    loud = flyte("-v", "get", "run", "nope")
    assert "Traceback" not in quiet.stderr
    assert "Traceback" in loud.stderr and "Error: no run named 'nope'" in loud.stderr
