"""The `flyte` command line (Typer)."""

from __future__ import annotations

__all__ = ["main"]


def main() -> None:
    """Entry point of the `flyte` console script."""
    from flyte_cli._complete import answer

    if answer():  # `flyte logs <TAB>`: answered without importing Typer
        return
    from flyte_cli.main import run_cli

    run_cli()
