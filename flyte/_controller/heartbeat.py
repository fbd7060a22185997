"""The driver's heartbeat, on its own thread: a blocked event loop does not stop it.

An async task that blocks the loop (a `time.sleep` in an `async def`) used to stop the
heartbeat too, and readers then judged a live run dead. This thread beats for every
durable run the controller drives and notices aborts requested by other processes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flyte._store import HEARTBEAT_INTERVAL

if TYPE_CHECKING:
    from flyte._controller.state import RunState

__all__ = ["Heartbeat"]


class Heartbeat:
    """Beats every HEARTBEAT_INTERVAL for the runs in `runs` while there are any.

    Args:
        runs: the controller's live runs (name -> (RunState, root task)); read, never
            changed here.
        abort: called with a run's name when another process asked to abort it.
    """

    def __init__(
        self, runs: dict[str, tuple[RunState, Any]], abort: Callable[[str], object]
    ) -> None:
        self._runs = runs
        self._abort = abort
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def ensure(self) -> None:
        """Start the beating thread unless it runs; it stops when no run is left."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="flyte-heartbeat", daemon=True
                )
                self._thread.start()

    def _loop(self) -> None:
        while True:
            time.sleep(HEARTBEAT_INTERVAL)
            with self._lock:
                if not self._runs:
                    self._thread = None
                    return
            self.beat()

    def beat(self) -> None:
        """Record one heartbeat for each durable run; act on abort requests."""
        now = time.time()
        for name, (run, _) in list(self._runs.items()):
            if not run.writer.threaded:
                continue
            run.recorder.run_heartbeat(name, now)
            try:
                requested = not run.aborted.is_set() and run.store.abort_requested(name)
            except Exception:  # a store that cannot be read now: ask again next beat
                requested = False
            if requested:
                self._abort(name)
