"""DashboardApp: the `flyte tui` application (runs screen, run screen, keys)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.reactive import var
from textual.screen import ModalScreen

from flyte.errors import FlyteError
from flyte_tui.data import RunFeed
from flyte_tui.screens.confirm import ConfirmScreen
from flyte_tui.screens.keys import KeysScreen
from flyte_tui.screens.run_detail import RunScreen
from flyte_tui.screens.runs import RunsScreen

if TYPE_CHECKING:
    from flyte.store import RunStore

__all__ = ["DashboardApp"]


@dataclass
class _Spawned:
    """A `flyte rerun` started from the dashboard, watched until it exits."""

    what: str
    process: subprocess.Popen[bytes]
    stderr: IO[bytes]


class DashboardApp(App[None]):
    """The live dashboard over a run store.

    It reads only the store (through `RunFeed`): a run driven by this process
    (`flyte run --tui`) and one driven by another terminal look the same.

    Example:
        app = DashboardApp(SqliteRunStore("runs.db"), run_name="swift-otter-4f2a9c")
        app.run()
    """

    CSS_PATH = "dashboard.tcss"
    TITLE = "flyte"

    # The footer shows the keys used most (it must fit 80 columns); `?` lists them all.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "abort", "Abort"),
        Binding("question_mark", "keys", "Keys"),
        Binding("q", "quit", "Quit"),
        Binding("r", "rerun", "Rerun the run", show=False),
        Binding("R", "recover", "Rerun, reusing what succeeded", show=False),
        Binding("f", "toggle_follow", "Follow the newest action", show=False),
        Binding("c", "copy_name", "Copy the run's name", show=False),
    ]

    version: var[int] = var(-1)
    """The store's change counter, polled; screens watch it and re-read on change."""

    follow: var[bool] = var(False)
    """Follow mode: keep the newest run / running action in view, tail the logs."""

    def __init__(
        self,
        store: RunStore,
        run_name: str | None = None,
        *,
        follow_latest: bool = False,
        poll_interval: float = 0.25,
    ) -> None:
        """Create the app.

        Args:
            store: the run store to show.
            run_name: open this run's screen first; None starts on the run list.
            follow_latest: start on the newest run and move to each newer run as it
                appears (watch mode); turns follow on.
            poll_interval: seconds between two reads of the store's change counter.
        """
        super().__init__()
        self.feed = RunFeed(store)
        self.run_name = run_name
        self.follow_latest = follow_latest
        self.poll_interval = poll_interval
        self.spawned: list[_Spawned] = []
        home = os.path.expanduser("~")
        path = store.path
        self.store_label = "~" + path[len(home) :] if path.startswith(home + os.sep) else path
        """How the store is named in titles (home abbreviated to ~)."""
        self.set_reactive(DashboardApp.follow, follow_latest)

    def on_mount(self) -> None:
        self.push_screen(RunsScreen())
        if self.run_name is not None or self.follow_latest:
            self.push_screen(RunScreen(self.run_name))
        self.set_interval(self.poll_interval, self.poll)
        self.set_interval(1.0, self._check_spawned)
        self.poll()

    def poll(self) -> None:
        """Read the change counter (one indexed row: cheap enough for the UI thread)."""
        try:
            self.version = self.feed.version()
        except FlyteError as exc:
            self.notify(str(exc), severity="error", timeout=10)

    def open_run(self, run: str, *, logs: bool = False) -> None:
        """Push the run screen of `run` (with its whole-run logs in front if `logs`)."""
        self.push_screen(RunScreen(run, logs=logs))

    @property
    def selected_run(self) -> str | None:
        """The run the keys act on: the highlighted row, or the run on screen."""
        run = getattr(self.screen, "selected_run", None)
        return run if isinstance(run, str) else None

    # -- actions -------------------------------------------------------------------

    def action_rerun(self) -> None:
        """Start a new run of the selected run's task, in a detached `flyte` process."""
        run = self.selected_run
        if run is not None:
            self.spawn_cli("rerun", run)

    def action_recover(self) -> None:
        """Rerun, reusing every action of the selected run that succeeded."""
        run = self.selected_run
        if run is not None:
            self.spawn_cli("rerun", run, "--recover")

    def action_abort(self) -> None:
        """Ask (y/n), then ask the process driving the selected run to abort it."""
        run = self.selected_run
        if run is None or isinstance(self.screen, ModalScreen):
            return
        try:
            record = self.feed.run(run)  # one indexed row: fine on the UI thread
        except FlyteError as exc:
            self.notify(str(exc), severity="error")
            return
        if record is not None and record.phase.is_terminal:
            self.notify(f"{run} is not running", severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._abort(run)

        self.push_screen(
            ConfirmScreen(f"Abort run {run}?\nWhat finished is kept: `R` reruns reusing it."),
            answered,
        )

    def action_keys(self) -> None:
        """Show every key (`?`)."""
        if not isinstance(self.screen, ModalScreen):
            self.push_screen(KeysScreen())

    @work(thread=True, group="abort")
    def _abort(self, run: str) -> None:
        # A write: it may wait for the store's write lock, so not on the UI thread.
        try:
            asked = self.feed.request_abort(run)
        except FlyteError as exc:
            self.call_from_thread(self.notify, str(exc), severity="error")
            return
        if asked:
            self.call_from_thread(self.notify, f"Abort requested for {run}")
        else:
            self.call_from_thread(self.notify, f"{run} is not running", severity="warning")

    def action_toggle_follow(self) -> None:
        """Toggle follow mode."""
        self.follow = not self.follow
        self.notify("Following" if self.follow else "Not following", timeout=2)

    def action_copy_name(self) -> None:
        """Copy the selected run's name to the clipboard."""
        run = self.selected_run
        if run is not None:
            self.copy_to_clipboard(run)
            self.notify(f"Copied {run}", timeout=2)

    # -- subprocesses --------------------------------------------------------------

    def spawn_cli(self, *args: str) -> None:
        """Run `python -m flyte_cli ARGS` detached, on this store; never the engine in-process.

        The dashboard only reads the store: a new run is driven by its own process, so
        it survives quitting the dashboard and shows up through the store like any run.
        """
        path = self.feed.store.path
        if path == ":memory:":
            self.notify("rerun needs a store file; this one is in memory", severity="error")
            return
        env = {**os.environ, "FLYTE_STORE": path}
        # Kept open until the process exits (_check_spawned), to report why it failed.
        stderr = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "flyte_cli", *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            stderr.close()
            self.notify(f"could not start flyte: {exc}", severity="error")
            return
        what = " ".join(args)
        self.spawned.append(_Spawned(what, process, stderr))
        self.notify(f"Started flyte {what}; the new run appears at the top")

    def _check_spawned(self) -> None:
        for spawned in list(self.spawned):
            code = spawned.process.poll()
            if code is None:
                continue
            self.spawned.remove(spawned)
            # Exit 1 only means the new run failed: it is in the store like any run.
            if code not in (0, 1):
                spawned.stderr.seek(0)
                lines = spawned.stderr.read().decode(errors="replace").strip().splitlines()
                detail = lines[-1] if lines else f"exit status {code}"
                self.notify(f"flyte {spawned.what} failed: {detail}", severity="error", timeout=10)
            spawned.stderr.close()

    def on_unmount(self) -> None:
        for spawned in self.spawned:
            spawned.stderr.close()
