"""How deep tasks may nest: a clear error instead of a RecursionError in engine frames.

Each level of async nesting keeps several engine frames on the event loop's stack, so a
task recursing through async tasks used to die near 245 levels with thousands of lines
of engine traceback. The depth counts async levels awaited on one stack; it travels in a
context variable that a child's coroutine sets. A sync body runs in its own thread and
its calls start on a fresh stack, so a sync child starts the count again.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Coroutine
from typing import Any

from flyte.errors import NestingTooDeepError

__all__ = ["MAX_DEPTH", "at_depth", "child_depth"]

MAX_DEPTH = 100
_depth: contextvars.ContextVar[int] = contextvars.ContextVar("flyte_depth", default=0)


def child_depth(task_name: str) -> int:
    """The nesting depth of a task called from here.

    Raises:
        NestingTooDeepError: it would be deeper than MAX_DEPTH.
    """
    depth = _depth.get() + 1
    if depth > MAX_DEPTH:
        raise NestingTooDeepError(
            f"calling {task_name} would nest tasks {depth} levels deep; flyte-local allows "
            f"{MAX_DEPTH}. Turn the recursion into a loop, or fan out with flyte.map"
        )
    return depth


async def at_depth(depth: int, factory: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run the coroutine `factory()` makes with the nesting depth set to `depth`."""
    token = _depth.set(depth)
    try:
        return await factory()
    finally:
        _depth.reset(token)
