"""`flyte.git.config_from_root()`: the config file at the root of the git checkout, if any."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import flyte.git

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def test_the_config_at_the_checkout_root_is_found_from_a_subfolder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    (repo / "pkg" / "deep").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    monkeypatch.chdir(repo / "pkg" / "deep")
    assert flyte.git.config_from_root() is None  # a checkout, but no config file
    config = repo / ".flyte" / "config.yaml"
    config.parent.mkdir()
    config.write_text("admin: {}\n")
    assert flyte.git.config_from_root() == config.resolve()
    assert flyte.git.config_from_root("missing.yaml") is None


def test_outside_a_checkout_there_is_no_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert flyte.git.config_from_root() is None
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))  # git is not installed
    assert flyte.git.config_from_root() is None
