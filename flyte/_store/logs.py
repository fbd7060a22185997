"""Per-action capture of stdout, stderr and `logging` into the run store.

Routing is by context variable: each write goes to the action current in the writing
thread or task, so concurrent tasks never mix their lines. Output outside any action goes
straight to the real stream.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, TextIO

from flyte._context import current_action

if TYPE_CHECKING:
    from flyte._context import ActionContext

__all__ = ["capture_logs", "flush_action_logs", "printable", "release_logs"]

# C0 controls but tab, DEL and the C1 controls: ESC starts terminal escape sequences (set
# the title, rewrite the screen, OSC 52 clipboard writes), CR rewrites the line.
_CONTROLS = {c: f"^{chr(c + 64)}" for c in range(32) if c != 9}
_CONTROLS[127] = "^?"
_CONTROLS.update({c: f"\\x{c:02x}" for c in range(0x80, 0xA0)})
_SHOW_MAX = 10_000


def printable(line: str, *, limit: int | None = _SHOW_MAX) -> str:
    """`line` safe to show on a terminal: control characters made visible, length capped.

    Task output is untrusted text: printed raw, an escape sequence in it would drive the
    viewer's terminal. A huge line (megabytes, no newline) is cut to `limit` characters so
    a log viewer stays responsive; the stored line is unchanged.
    """
    cut = ""
    if limit is not None and len(line) > limit:
        cut = f" ... ({len(line) - limit:,} more characters)"
        line = line[:limit]
    if line.isprintable():
        return line + cut
    return line.translate(_CONTROLS) + cut


_lock = threading.Lock()
_users = 0
_saved: tuple[TextIO, TextIO] | None = None
_handler: _ActionLogHandler | None = None
# Every router ever installed, kept for the life of the process: print() holds only a
# borrowed reference to sys.stdout, so a router freed at release while another thread is
# inside print() on it crashes the interpreter. One router per real stream, reused.
_routers: list[_Router] = []


class _Router:
    """A stand-in for sys.stdout / sys.stderr that routes lines to the current action."""

    def __init__(self, real: TextIO, stream: str) -> None:
        self._real = real
        self._stream = stream
        self._partial: dict[tuple[str, str], str] = {}
        # Two threads of one action (to_thread helpers, a timed-out body beside its retry)
        # write to one pending line: taking it, adding and putting it back is one step.
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        action = current_action()
        if action is None:
            return self._real.write(text)
        run = action.run
        key = (run.name, action.action_id)
        with self._lock:
            buffered = self._partial.pop(key, "") + text
            *lines, rest = buffered.split("\n")
            if rest:
                self._partial[key] = rest
            if lines and run.echo:
                # Whole lines in one write: concurrent tasks never interleave within a line.
                self._real.write("\n".join(lines) + "\n")
            for line in lines:
                run.log(action, self._stream, line)
        return len(text)

    def flush_action(self, action: ActionContext) -> None:
        with self._lock:
            rest = self._partial.pop((action.run.name, action.action_id), None)
        if rest:
            if action.run.echo:
                self._real.write(rest + "\n")
            action.run.log(action, self._stream, rest)

    def flush(self) -> None:
        self._real.flush()

    def isatty(self) -> bool:
        return self._real.isatty()

    def fileno(self) -> int:
        return self._real.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class _ActionLogHandler(logging.Handler):
    """Records `logging` output of tasks; prints records outside tasks like lastResort."""

    def emit(self, record: logging.LogRecord) -> None:
        action = current_action()
        others = [h for h in logging.getLogger().handlers if h is not self]
        if action is None:
            if not others and record.levelno >= logging.WARNING:
                sys.__stderr__.write(self.format(record) + "\n")  # type: ignore[union-attr]
            return
        # A user handler writing to stdout/stderr already lands in the routers.
        if any(isinstance(getattr(h, "stream", None), _Router) for h in others):
            return
        message = f"{record.levelname} {record.name}: {record.getMessage()}"
        action.run.log(action, "log", message)
        if action.run.echo and not others and record.levelno >= logging.WARNING:
            sys.__stderr__.write(message + "\n")  # type: ignore[union-attr]


def capture_logs() -> None:
    """Install the routers (reference-counted: one install serves concurrent runs)."""
    global _users, _saved, _handler
    with _lock:
        _users += 1
        if _users > 1:
            return
        _saved = (sys.stdout, sys.stderr)
        sys.stdout = _router(sys.stdout, "stdout")  # type: ignore[assignment]
        sys.stderr = _router(sys.stderr, "stderr")  # type: ignore[assignment]
        _handler = _ActionLogHandler(level=logging.NOTSET)
        logging.getLogger().addHandler(_handler)


def _router(real: TextIO, stream: str) -> _Router:
    """The router for `real`: made once, then reused and never freed."""
    for router in _routers:
        if router._real is real and router._stream == stream:
            return router
    router = _Router(real, stream)
    _routers.append(router)
    return router


def release_logs() -> None:
    """Undo one `capture_logs`; the last release restores the real streams."""
    global _users, _saved, _handler
    with _lock:
        _users -= 1
        if _users > 0 or _saved is None:
            return
        sys.stdout, sys.stderr = _saved
        _saved = None
        if _handler is not None:
            logging.getLogger().removeHandler(_handler)
            _handler = None


def flush_action_logs(action: ActionContext) -> None:
    """Emit the unterminated last line an action printed, if any."""
    for stream in (sys.stdout, sys.stderr):
        if type(stream) is _Router and stream._partial:
            stream.flush_action(action)


def now() -> float:
    return time.time()
