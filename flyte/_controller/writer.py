"""Batched, coalescing writes to a run store from one writer thread.

The engine never waits for SQLite on its hot path: it queues operations here and a
writer thread commits whatever has accumulated in one transaction (group commit). An
action inserted and finished before its batch is written becomes a single row insert.
`flush()` waits until everything queued so far is durable.
"""

from __future__ import annotations

import atexit
import sys
import threading
from typing import TYPE_CHECKING, Any

from flyte.errors import StoreError

if TYPE_CHECKING:
    from flyte._store import Op, RunStore

__all__ = ["Writer"]

_IDLE_EXIT = 2.0


class Writer:
    """Queues store operations; commits them in batches on a background thread.

    With `threaded=False` (the memory store) every operation is applied at once.
    """

    def __init__(self, store: RunStore, *, threaded: bool) -> None:
        self.store = store
        self.threaded = threaded
        self._ops: list[Op] = []
        self._rows: dict[tuple[str, str], dict[str, Any]] = {}
        self._cond = threading.Condition()
        self._queued = 0
        self._written = 0
        self._error: BaseException | None = None
        self._closed = False
        self._thread: threading.Thread | None = None
        self._atexit = False
        # Cache entries this process wrote: visible to look-ups before their batch commits.
        self.recent_cache: dict[str, tuple[str | None, bytes]] = {}

    def _flush_at_exit(self) -> None:
        try:
            self.flush(timeout=10)
        except StoreError as exc:
            print(f"flyte: {exc}", file=sys.__stderr__)

    def _ensure_thread(self) -> None:
        # Called with the condition held. An idle writer thread exits; the next put restarts it.
        if self._thread is None:
            if not self._atexit:
                # Daemon threads die with the interpreter: write what is queued first.
                atexit.register(self._flush_at_exit)
                self._atexit = True
            self._thread = threading.Thread(
                target=self._loop, name="flyte-store-writer", daemon=True
            )
            self._thread.start()

    def put(self, op: Op) -> None:
        if not self.threaded:
            self.store.write([op])
            return
        with self._cond:
            self._ops.append(op)
            if op[0] == "action_insert":
                row = op[1]
                self._rows[(row["run"], row["id"])] = row
            self._queued += 1
            self._ensure_thread()
            self._cond.notify()

    def update_action(self, run: str, action_id: str, fields: dict[str, Any]) -> None:
        """Update an action row, merged into its pending insert when there is one."""
        if self.threaded:
            with self._cond:
                row = self._rows.get((run, action_id))
                if row is not None:
                    row.update(fields)
                    return
        self.put(("action_update", run, action_id, fields))

    def flush(self, timeout: float | None = None) -> None:
        """Block until every operation queued before this call is written.

        Raises:
            StoreError: the writer thread failed to write.
        """
        if not self.threaded:
            return
        with self._cond:
            target = self._queued
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._written >= target or self._error is not None, timeout)
            if self._error is not None:
                raise StoreError(f"writing to {self.store.path} failed: {self._error}")

    def close(self) -> None:
        if not self.threaded or self._closed:
            return
        self.flush()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._ops) or self._closed, timeout=_IDLE_EXIT)
                if not self._ops:
                    self._thread = None
                    return
                batch, self._ops = self._ops, []
                self._rows = {}
            try:
                self.store.write(batch)
            except BaseException as exc:  # surfaced to the next flush(); never silently lost
                print(f"flyte: writing to the run store failed: {exc}", file=sys.__stderr__)
                with self._cond:
                    self._error = exc
                    self._cond.notify_all()
                return
            with self._cond:
                self._written += len(batch)
                self._cond.notify_all()
