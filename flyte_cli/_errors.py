"""The CLI's own usage error; `flyte_cli.main` is the one place that turns it into a message."""

from __future__ import annotations

__all__ = ["CliError"]


class CliError(Exception):
    """A usage or input problem: printed as one `Error: ...` line, exit code 2 by default.

    Example:
        raise CliError("no task 'mian' in hello.py; did you mean 'main'?")
    """

    def __init__(self, message: str, *, exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
