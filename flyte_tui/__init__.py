"""The Textual dashboard behind `flyte tui` and `flyte run --tui`.

Example:
    from flyte.store import default_store
    import flyte_tui

    flyte_tui.launch(default_store())                    # every run, newest first
    flyte_tui.launch(default_store(), "swift-otter-4f2a9c")  # one run's tree, details, logs
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flyte.store import RunStore

__all__ = ["launch"]


def launch(store: RunStore, run_name: str | None = None, *, follow_latest: bool = False) -> None:
    """Run the dashboard in this terminal until the user quits (blocking).

    Args:
        store: the run store to show; the dashboard only reads it (and flags aborts).
        run_name: open this run first (it may not be in the store yet: the screen waits).
        follow_latest: show the newest run and jump to each newer one as it appears
            (watch mode); follow mode starts on.

    Raises:
        ImportError: Textual is not installed.
    """
    try:
        from flyte_tui.app import DashboardApp
    except ImportError as exc:  # textual is the optional `tui` extra
        raise ImportError(
            f"the dashboard needs Textual ({exc}); install it with: pip install 'flyte-local[tui]'"
        ) from exc
    DashboardApp(store, run_name, follow_latest=follow_latest).run()
