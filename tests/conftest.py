"""Shared fixtures: an isolated FLYTE_HOME per test, stores, and a CLI runner."""

from __future__ import annotations

import faulthandler
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# -- a hang always ends as a failure ---------------------------------------------------------
#
# pytest-timeout's default (signal) method fails a test that overruns, and the session goes
# on, but only once the main thread runs Python again: a test stuck in C, or behind threads
# that hold the interpreter, outlived it once for 10 minutes. So each test also arms
# faulthandler's watchdog, a C thread that needs no interpreter: HANG_GRACE seconds after
# pytest-timeout should have fired it prints every thread's stack and exits the session.
HANG_GRACE = float(os.environ.get("PYTEST_HANG_GRACE", "60"))
_watchdog_fd: list[int] = []


def pytest_configure(config: pytest.Config) -> None:
    # A copy of the real stderr, taken while output is not captured: during a test fd 2
    # goes to pytest's capture file, which the exit would lose.
    _watchdog_fd.append(os.dup(sys.stderr.fileno()))


def pytest_unconfigure(config: pytest.Config) -> None:
    faulthandler.cancel_dump_traceback_later()
    while _watchdog_fd:
        os.close(_watchdog_fd.pop())


@pytest.hookimpl(hookwrapper=True, optionalhook=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> Iterator[None]:
    yield
    if settings.timeout and _watchdog_fd:
        faulthandler.dump_traceback_later(
            settings.timeout + HANG_GRACE, exit=True, file=_watchdog_fd[0]
        )


@pytest.hookimpl(hookwrapper=True, optionalhook=True)
def pytest_timeout_cancel_timer(item: pytest.Item) -> Iterator[None]:
    faulthandler.cancel_dump_traceback_later()
    yield


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point FLYTE_HOME at tmp_path, clear other FLYTE_* variables and process-wide config."""
    for key in list(os.environ):
        # FLYTE_WRITE_PROCESS=always runs the suite with every store written by a write
        # process (flyte/_store/write_process.py): kept, so that mode can be tested whole.
        if key.startswith("FLYTE_") and key != "FLYTE_WRITE_PROCESS":
            monkeypatch.delenv(key)
    home = tmp_path / "flyte-home"
    monkeypatch.setenv("FLYTE_HOME", str(home))
    import flyte._config
    import flyte._store

    flyte._config.reset()
    flyte._store._default.clear()
    yield home
    configured = flyte._config.current().store
    flyte._config.reset()
    for store in flyte._store._default.values():
        writer = getattr(store, "_flyte_writer", None)
        if writer is not None:
            writer.flush()
    for store in [*flyte._store._default.values(), configured]:
        writer = getattr(store, "_flyte_writer", None)
        if writer is not None:
            writer.release_process()  # no write process outlives its test
    flyte._store._default.clear()


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A fresh run store (memory and SQLite), installed with flyte.init(store=...)."""
    import flyte
    from flyte._store.memory import MemoryRunStore
    from flyte._store.sqlite import SqliteRunStore

    s = MemoryRunStore() if request.param == "memory" else SqliteRunStore(tmp_path / "runs.db")
    flyte.init(store=s)
    return s


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Any:
    """A fresh SQLite run store, installed with flyte.init(store=...)."""
    import flyte
    from flyte._store.sqlite import SqliteRunStore

    s = SqliteRunStore(tmp_path / "runs.db")
    flyte.init(store=s)
    return s


@pytest.fixture
def cli_runner() -> Any:
    """A Typer CliRunner."""
    from typer.testing import CliRunner

    return CliRunner()
