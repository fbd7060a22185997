"""The suite's own guard: a test that hangs where pytest-timeout cannot reach still ends.

A copy of tests/conftest.py runs a test that deadlocks in C with the interpreter held, so
pytest-timeout's signal handler never runs: the watchdog must print the stacks and end
the session with a failure, instead of the session hanging until CI kills it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

HUNG = """
import ctypes

import pytest


@pytest.mark.timeout(1)
def test_deadlocks_in_c():
    api = ctypes.pythonapi
    api.PyThread_allocate_lock.restype = ctypes.c_void_p
    api.PyThread_acquire_lock.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lock = api.PyThread_allocate_lock()
    api.PyThread_acquire_lock(lock, 1)
    api.PyThread_acquire_lock(lock, 1)  # taken twice, waiting in C: never returns


def test_after():
    print("the session went on")
"""


def test_a_test_hung_in_c_ends_the_session_as_a_failure(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    shutil.copy(Path(__file__).with_name("conftest.py"), suite / "conftest.py")
    (suite / "test_hung.py").write_text(HUNG)
    env = {**os.environ, "PYTEST_HANG_GRACE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", str(suite)],
        capture_output=True,
        text=True,
        env=env,
        cwd=suite,
        timeout=90,
    )
    assert result.returncode != 0
    assert "Timeout (0:00:02)!" in result.stderr  # faulthandler's watchdog fired
    assert "test_deadlocks_in_c" in result.stderr  # ... and showed where it hung
    assert "the session went on" not in result.stdout
