"""How deep tasks may nest: a clear error instead of a RecursionError in engine frames.

Each level of async nesting keeps several engine frames on the event loop's stack, so a
task recursing through async tasks used to die near 245 levels with thousands of lines
of engine traceback. The depth counts async levels awaited on one stack; each action's
context holds its own (`ActionContext.depth`). A sync body runs in its own thread and its
calls start on a fresh stack, so a sync child starts the count again.

MAX_DEPTH is what a plain interpreter holds with room to spare. Under a C tracer
(coverage) every Python call counts twice against the recursion limit, and a caller may
start deep already (a notebook, a framework): past a few levels the stack itself is
checked too, so those get the same clear error, earlier, rather than a RecursionError.
"""

from __future__ import annotations

import sys
from types import FrameType

from flyte.errors import NestingTooDeepError

__all__ = ["MAX_DEPTH", "QUICK_DEPTH", "child_depth"]

MAX_DEPTH = 100
# The stack is walked (O(depth)) only from this depth on: the shallow calls of a wide
# fan-out never pay for it.
_CHECK_STACK_FROM = 16
QUICK_DEPTH = _CHECK_STACK_FROM
"""Below this depth a call needs no `child_depth` (callers may skip it: no limit is near)."""
# The share of the recursion limit nesting may use; the rest is for the deepest body's
# own calls and the engine frames that unwind it.
_STACK_SHARE = 0.75


# Each level also runs its body through two C calls (a context's `run`, the coroutine's
# `send`: see `_run_plain`) that count against the recursion limit, unseen as frames.
_HIDDEN_PER_LEVEL = 2


def _stack_too_full(depth: int) -> bool:
    frames = 0
    frame: FrameType | None = sys._getframe()
    while frame is not None:
        frames += 1
        frame = frame.f_back
    cost = 1 if sys.gettrace() is None else 2
    used = frames * cost + depth * _HIDDEN_PER_LEVEL
    return used > sys.getrecursionlimit() * _STACK_SHARE


def child_depth(task_name: str, parent_depth: int) -> int:
    """The nesting depth of a task called from an action at `parent_depth`.

    Raises:
        NestingTooDeepError: it would be deeper than MAX_DEPTH.
    """
    depth = parent_depth + 1
    if depth > MAX_DEPTH:
        raise NestingTooDeepError(
            f"calling {task_name} would nest tasks {depth} levels deep; flyte-local allows "
            f"{MAX_DEPTH}. Turn the recursion into a loop, or fan out with flyte.map"
        )
    if depth >= _CHECK_STACK_FROM and _stack_too_full(depth):
        raise NestingTooDeepError(
            f"calling {task_name} would nest tasks {depth} levels deep, more than this "
            f"thread's stack holds here (a tracer such as coverage or a debugger, or a deep "
            f"caller, leaves less of it); flyte-local allows {MAX_DEPTH} at most. Turn the "
            "recursion into a loop, or fan out with flyte.map"
        )
    return depth
