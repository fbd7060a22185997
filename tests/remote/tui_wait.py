"""Waiting for a Textual app to reach a state, with a deadline (no fixed sleeps)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


async def wait_until(pilot: Any, condition: Callable[[], object], timeout: float = 20.0) -> None:
    """Let the app run until `condition()` is true; fail after `timeout` seconds."""
    from textual.css.query import NoMatches

    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except NoMatches:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition}")
        await pilot.pause(0.02)
