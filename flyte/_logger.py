"""`flyte.logger`: the user's logger, captured per action and echoed to the terminal.

Inside a task each record is stored with the action's logs (stream "log"); outside a
task it is printed to stderr. The logger is made on first use, so `import flyte`
configures nothing (upstream installs handlers at import; we do not).
"""

from __future__ import annotations

import logging
import sys

from flyte._context import current_action

__all__ = ["get_system_logger", "get_user_logger", "logger", "system_logger"]

USER_LOGGER = "flyte.user"


class _UserHandler(logging.Handler):
    """Routes a user log record to the current action, else to the terminal."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = f"{record.levelname} {record.getMessage()}"
        except Exception:  # a bad format string in the user's call: logging's own policy
            self.handleError(record)
            return
        action = current_action()
        if action is None:
            print(message, file=sys.stderr)
            return
        action.run.log(action, "log", message)
        if action.run.echo:
            sys.__stderr__.write(message + "\n")  # type: ignore[union-attr]


def get_user_logger() -> logging.Logger:
    """The `flyte.user` logger at INFO, with its per-action handler (installed once)."""
    logger = logging.getLogger(USER_LOGGER)
    if not any(isinstance(h, _UserHandler) for h in logger.handlers):
        logger.addHandler(_UserHandler())
        logger.setLevel(logging.INFO)
        # The root handler of flyte._store.logs would record each line a second time.
        logger.propagate = False
    return logger


def get_system_logger() -> logging.Logger:
    """flyte's own logger (`flyte.system_logger`); quiet unless the user configures logging."""
    return logging.getLogger("flyte")


logger = get_user_logger()
system_logger = get_system_logger()
