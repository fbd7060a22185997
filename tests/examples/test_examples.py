"""Smoke test: every examples/*.py runs through the CLI (`flyte run examples/X.py main`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.name for p in (REPO / "examples").glob("*.py"))

# Inputs that keep slow examples quick; what runs must produce (default: succeed).
QUICK = {"slow.py": ["--workers", "2", "--steps", "2", "--delay", "0.01"]}
EXPECT: dict[str, tuple[str, Any]] = {
    "hello.py": ("SUCCEEDED", "Hello, World!"),
    "failing.py": ("FAILED", None),
    "pipeline.py": ("SUCCEEDED", {"count": 10, "total": 67.5, "mean": 6.75}),
    "slow.py": ("SUCCEEDED", 6),
    "traces.py": ("SUCCEEDED", 51),
    "fanout.py": ("SUCCEEDED", {"squares": 285, "cubes": 2025, "extra": 3}),
    "remote_run.py": ("SUCCEEDED", 30),
}


def test_the_cli_examples_are_there() -> None:
    assert set(EXPECT) <= set(EXAMPLES)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs_via_the_cli(
    name: str, cli_runner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flyte_cli.main import app

    monkeypatch.chdir(REPO)
    result = cli_runner.invoke(
        app, ["run", "--json", f"examples/{name}", "main", *QUICK.get(name, [])], prog_name="flyte"
    )
    phase, outputs = EXPECT.get(name, ("SUCCEEDED", None))
    assert result.exit_code == (0 if phase == "SUCCEEDED" else 1), result.output
    data = json.loads(result.stdout)
    assert data["phase"] == phase
    if outputs is not None:
        assert data["outputs"] == outputs


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_documents_how_to_run_it(name: str) -> None:
    text = (REPO / "examples" / name).read_text(encoding="utf-8")
    assert text.startswith("# /// script\n"), "PEP 723 header first"
    assert "How to run:" in text and f"flyte run examples/{name} main" in text
