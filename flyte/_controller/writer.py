"""Batched, coalescing writes to a run store from one writer thread.

The engine never waits for SQLite on its hot path: it queues operations here and a
writer thread commits whatever has accumulated in one transaction (group commit). An
action inserted and finished before its batch is written becomes a single row insert.
`flush()` waits until everything queued so far is durable.

A failed write is never silent and never stops recording (issue 13):
- a store that is full, busy or failing I/O keeps the batch and retries it with backoff,
  so nothing queued is lost and recording resumes once there is room; meanwhile
  `flush()` raises the real cause and the engine refuses to start new actions;
- a batch that fails for one of its operations (a foreign key, a value too big) is
  written one operation at a time: every other operation is kept, and the run the bad
  one belongs to is failed with that cause (`flush(run=...)` raises it);
- a store that can never be written (read-only) fails at once.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import logging
import marshal
import os
import select
import sqlite3
import subprocess
import sys
import threading
from typing import TYPE_CHECKING, Any

from flyte._store.write_process import FrameReader, send_frame
from flyte.errors import StoreError

if TYPE_CHECKING:
    from flyte._store import Op, RunStore

__all__ = ["Writer", "op_run"]

_IDLE_EXIT = 2.0
# Group commit: a batch waits up to _GATHER after its first op for more, or until it
# holds _GATHER_OPS (a flush cuts it short). Round trips to worker processes then commit
# several at a time, not each alone, and the engine's thread is not interrupted by the
# writer's at every action; a fast in-process chain fills _GATHER_OPS long before the
# window ends, so its batches (and the last one, that the run's final flush waits for)
# stay small.
_GATHER = 0.002
_GATHER_OPS = 32
# A batch holds at most this many operations: a 100,000-task fan-out queues 200,000 while
# the engine is busy, and one transaction of all of them held them twice over in memory
# (the rows and their statement, or the frame sent to the write process).
_MAX_BATCH = 10_000
# Back-pressure: past _HIGH_WATER queued operations a put waits (at most _THROTTLE_MAX
# seconds) until the writer has taken the queue down to half. A run that records faster
# than SQLite writes (a 100,000-task fan-out) then holds a bounded backlog, not 200,000
# operations, and ends no later: the writer was the bottleneck either way. A failing
# store is never waited for (its operations are kept for the retry). Measured on the
# 100,000-task fan-out (an action is about one operation): 8,000 ran 5% faster than 20,000
# and peaked 11 MiB lower. Once the engine had become leaner, 4,000 peaked 8 MiB lower
# than 8,000 (146 against 154 MiB: under the 150 MiB target) and ran as fast, within
# this machine's noise (4.31 s against 4.21 s).
_HIGH_WATER = 4000
_THROTTLE_MAX = 5.0
_RETRY_FIRST = 0.05
_RETRY_MAX = 2.0
# SQLite result codes (the low byte of an extended code) worth retrying: the condition
# passes (space freed, lock released, I/O recovers) and the same batch then commits.
_TRANSIENT = {5, 6, 10, 13}  # BUSY, LOCKED, IOERR, FULL
_log = logging.getLogger("flyte.store")


def op_run(op: Op) -> str | None:
    """The run an operation belongs to (None for cache entries and deployments)."""
    kind = op[0]
    if kind in ("run_update", "action_update", "abort_actions"):
        return op[1]  # type: ignore[no-any-return]
    if kind == "run_insert":
        return op[1]["name"]  # type: ignore[no-any-return]
    if kind in ("action_insert", "attempt_upsert", "log"):
        return op[1]["run"]  # type: ignore[no-any-return]
    return None


def _transient(exc: BaseException) -> bool:
    known = getattr(exc, "transient", None)  # judged where it happened (the write process)
    if known is not None:
        return bool(known)
    cause = exc.__cause__ if isinstance(exc, StoreError) else exc
    if isinstance(cause, OSError) and not isinstance(cause, sqlite3.Error):
        return cause.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO)
    code = getattr(cause, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _TRANSIENT
    return isinstance(cause, sqlite3.OperationalError) and any(
        word in str(cause) for word in ("full", "locked", "busy", "disk I/O")
    )


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
        # Puts take the condition's lock directly: `with self._cond` costs two Python calls.
        self._lock = self._cond._lock  # type: ignore[attr-defined]
        self._waiting = False  # the writer thread waits for work: a put must notify it
        self._queued = 0
        self._written = 0
        self._error: StoreError | None = None
        self._attempts = 0  # failed write attempts so far (a flush waits for a fresh one)
        self._reported: StoreError | None = None
        self._run_errors: dict[str, StoreError] = {}
        self._closed = False
        self._gathering = False  # the writer waits for a batch to fill: puts need not wake it
        self._flushing = 0  # flush() calls waiting: no gathering
        self._thread: threading.Thread | None = None
        self._atexit = False
        # Cache entries this process wrote: visible to look-ups before their batch commits.
        self.recent_cache: dict[str, tuple[str | None, bytes]] = {}
        # Past _PROCESS_AFTER operations, batches go to a write process (see `_write`).
        self._process: _WriteProcess | None = None
        self._threshold = _process_threshold(store) if threaded else None
        self._process_after = self._threshold
        self._applied = 0
        self._throttled = 0  # puts waiting for the backlog to shrink

    @property
    def error(self) -> StoreError | None:
        """The store's current write failure (cleared once a retry succeeds), or None."""
        return self._error

    def run_error(self, run: str) -> StoreError | None:
        """Why `run` could not be fully recorded (or the store's current failure), or None."""
        return self._run_errors.get(run) or self._error

    def _flush_at_exit(self) -> None:
        try:
            self.flush(timeout=10)
        except StoreError as exc:
            if exc is not self._reported:
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
        with self._lock:
            self._ops.append(op)
            if op[0] == "action_insert":
                row = op[1]
                self._rows[(row["run"], row["id"])] = row
            self._queued += 1
            if self._thread is None:
                self._ensure_thread()
            queued = len(self._ops)
            if self._waiting and (not self._gathering or queued >= _GATHER_OPS):
                self._cond.notify()
            if queued > _HIGH_WATER and self._error is None:
                self._throttle()

    def _throttle(self) -> None:
        """Wait (condition held) until the writer took the backlog down to half."""
        if threading.current_thread() is self._thread:
            return
        self._throttled += 1
        try:
            self._cond.wait_for(
                lambda: (
                    len(self._ops) <= _HIGH_WATER // 2 or self._error is not None or self._closed
                ),
                _THROTTLE_MAX,
            )
        finally:
            self._throttled -= 1

    def update_action(self, run: str, action_id: str, fields: dict[str, Any]) -> None:
        """Update an action row, merged into its pending insert when there is one."""
        if self.threaded:
            with self._lock:
                row = self._rows.get((run, action_id))
                if row is not None:
                    row.update(fields)
                    return
        self.put(("action_update", run, action_id, fields))

    def flush(self, timeout: float | None = None, *, run: str | None = None) -> None:
        """Block until every operation queued before this call is written.

        Raises:
            StoreError: the store cannot be written now (the real cause), or an operation
                of `run` could not be recorded.
        """
        if not self.threaded:
            return
        with self._cond:
            target = self._queued
            tried = self._attempts
            self._flushing += 1
            self._cond.notify_all()  # also cuts a retry's back-off (or a gather) short
            try:
                self._cond.wait_for(
                    lambda: (
                        self._written >= target
                        or (self._error is not None and self._attempts > tried)
                    ),
                    timeout,
                )
            finally:
                self._flushing -= 1
            error = self._error or (self._run_errors.get(run) if run is not None else None)
            if error is not None:
                self._reported = error
                raise error

    def close(self) -> None:
        if not self.threaded or self._closed:
            return
        try:
            self.flush(timeout=10)
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            if self._thread is not None:
                self._thread.join(timeout=5)
            if self._process is not None:
                self._process.close()
                self._process = None

    def _loop(self) -> None:
        delay = _RETRY_FIRST
        while True:
            with self._cond:
                self._waiting = True
                self._cond.wait_for(lambda: bool(self._ops) or self._closed, timeout=_IDLE_EXIT)
                if not self._ops:
                    self._waiting = False
                    self._thread = None
                    idle = self._detach_process()
                    break
                if len(self._ops) < _GATHER_OPS and not (self._closed or self._flushing):
                    self._gathering = True
                    self._cond.wait(_GATHER)
                    self._gathering = False
                self._waiting = False
                batch = self._take()
                if self._throttled:
                    self._cond.notify_all()
            try:
                self._write(batch)
            except BaseException as exc:
                error = exc if isinstance(exc, StoreError) else StoreError(str(exc))
                if _transient(exc) and not self._closed:
                    self._keep(batch, error)
                    with self._cond:  # back off; a close() or a flush does not wait it out
                        self._cond.wait(timeout=delay)
                    delay = min(delay * 2, _RETRY_MAX)
                    continue
                if len(batch) > 1 and not getattr(self.store, "read_only", None):
                    self._write_singly(batch)
                else:
                    self._fail(batch, error)
                continue
            delay = _RETRY_FIRST
            with self._cond:
                if self._error is not None:
                    _log.warning("flyte: the run store is writable again; recording resumed")
                self._error = None
                self._written += len(batch)
                self._cond.notify_all()
        if idle is not None:  # an idle writer stops its write process; a burst starts one
            idle.close()

    def _take(self) -> list[Op]:
        """The next batch (called with the condition held): all that is queued, up to
        _MAX_BATCH operations, so a backlog is written (and shipped) in bounded pieces."""
        ops = self._ops
        if len(ops) <= _MAX_BATCH:
            self._ops, self._rows = [], {}
            return ops
        batch, self._ops = ops[:_MAX_BATCH], ops[_MAX_BATCH:]
        rows = self._rows
        for op in batch:  # rows still queued stay mergeable; these are on their way
            if op[0] == "action_insert":
                rows.pop((op[1]["run"], op[1]["id"]), None)
        return batch

    def _detach_process(self) -> _WriteProcess | None:
        """Take the write process away from this writer (called with the condition held)."""
        process, self._process = self._process, None
        self._applied = 0
        self._process_after = self._threshold
        return process

    def release_process(self) -> None:
        """Stop the write process now, after a flush (tests; a later burst starts one)."""
        if not self.threaded:
            return
        with contextlib.suppress(StoreError):  # what failed is the run's or flush's to say
            self.flush(timeout=10)
        with self._cond:
            process = self._detach_process()
        if process is not None:
            process.close()

    def _write(self, batch: list[Op]) -> None:
        """Apply `batch` to the store: in the write process once it is up, else here."""
        process = self._process
        wait = 0.0
        if process is not None and process.pid_started != os.getpid():
            process = self._process = None  # inherited through a fork: the parent's, not ours
        if process is None:
            after = self._process_after
            if after is not None and self._applied + len(batch) >= after:
                self._process_after = None  # started once; never again if it fails
                self._process = process = _WriteProcess.start(self.store.path)  # type: ignore[attr-defined]
                # A big batch written here would compete with the busy engine for the
                # GIL: it waits for the process. A small one (a later run of a burst)
                # is written here rather than hold its run's end up while the process
                # starts; the next batches go to the process once it is up.
                if len(batch) >= _BIG_BATCH:
                    wait = _START_WAIT
        if process is not None:
            try:
                if process.ready(wait):
                    process.write(batch)
                    return
            except _ProcessGone as exc:
                _log.warning("flyte: the store's write process ended (%s); writing here", exc)
                self._process = None
                process.close()
            except _NotPlainData:
                pass  # a value marshal cannot carry: this batch is written here
        self.store.write(batch)
        self._applied += len(batch)

    def _keep(self, batch: list[Op], error: StoreError) -> None:
        """Put a batch that failed for a passing reason back in front of the queue."""
        with self._cond:
            if self._error is None:
                _log.warning("flyte: %s; retrying", error)
            self._error = error
            self._attempts += 1
            # Its inserts are not made mergeable again: an update queued while the batch
            # was being written already waits behind it, and a later one merged into the
            # insert would be applied before that older update (the action would end
            # with the older phase). Later updates queue behind both.
            self._ops[:0] = batch
            self._cond.notify_all()

    def _write_singly(self, batch: list[Op]) -> None:
        """Write a failed batch one op at a time; keep every op that can be written."""
        done = 0
        for index, op in enumerate(batch):
            try:
                self._write([op])
            except BaseException as exc:
                error = exc if isinstance(exc, StoreError) else StoreError(str(exc))
                if _transient(exc):  # the store itself failed meanwhile: retry the rest
                    with self._cond:
                        self._written += done
                    self._keep(batch[index:], error)
                    return
                self._fail([op], error)
                continue
            done += 1
        with self._cond:
            self._written += done
            self._cond.notify_all()

    def _fail(self, ops: list[Op], error: StoreError) -> None:
        """Give up on `ops`: their runs fail with `error`; a store-wide failure surfaces."""
        runs = {op_run(op) for op in ops} - {None}
        with self._cond:
            if getattr(self.store, "read_only", None):  # nothing can ever be recorded
                self._error = error
                self._attempts += 1
            else:
                for run in runs:
                    assert run is not None
                    if run not in self._run_errors:
                        self._run_errors[run] = error
                        _log.warning("flyte: run %s could not be fully recorded: %s", run, error)
                if not runs:
                    _log.warning("flyte: %s", error)
            self._written += len(ops)
            self._cond.notify_all()


# Operations written in process before batches go to a write process: small runs (and
# `python hello.py`) never pay for starting one; a big fan-out moves to it early.
_PROCESS_AFTER = 2000
_START_WAIT = 2.0  # seconds a big first batch waits for a starting write process
_BIG_BATCH = 2000  # operations from which that batch waits


def _process_threshold(store: RunStore) -> int | None:
    """After how many operations `store` is written by a write process (None: never)."""
    mode = os.environ.get("FLYTE_WRITE_PROCESS", "auto").strip().lower()
    if mode in ("0", "never", "off", "no", "false"):
        return None
    path = getattr(store, "path", None)
    if (
        type(store).__name__ != "SqliteRunStore"
        or not path
        or path == ":memory:"
        or getattr(store, "read_only", None)
        or getattr(store, "tracer", None) is not None
    ):
        return None
    return 0 if mode in ("1", "always", "on", "yes", "true") else _PROCESS_AFTER


class _ProcessGone(Exception):
    """The write process ended or stopped answering."""


class _NotPlainData(Exception):
    """A batch holds a value marshal cannot carry."""


class _WriteProcess:
    """The driver's end of `flyte._store.write_process` (used by the writer thread only)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.pid_started = os.getpid()
        self._ready = False
        assert proc.stdout is not None
        self._replies = FrameReader(proc.stdout.fileno())

    @classmethod
    def start(cls, path: str) -> _WriteProcess | None:
        """Start a write process for the store at `path`; None if it cannot start."""
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "flyte._store.write_process", path],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                # Its own session: a Ctrl-C for the driver must not stop the recording.
                start_new_session=True,
            )
        except OSError as exc:
            _log.warning("flyte: could not start the store's write process: %s", exc)
            return None
        return cls(proc)

    def ready(self, wait: float = 0.0) -> bool:
        """True once the process has opened the store (waits at most `wait` seconds)."""
        if self._ready:
            return True
        out = self.proc.stdout
        assert out is not None
        poller = select.poll()  # not select(): a descriptor may be past FD_SETSIZE (1024)
        poller.register(out.fileno(), select.POLLIN)
        if not poller.poll(wait * 1000):
            if self.proc.poll() is not None:
                raise _ProcessGone(f"it exited with code {self.proc.returncode} on start")
            return False
        if self._replies.read() != ("ready",):
            raise _ProcessGone("it did not start")
        self._ready = True
        return True

    def write(self, batch: list[Op]) -> None:
        """Have the process apply `batch` in one transaction; wait for how it went.

        Raises:
            StoreError: the batch failed there (`.transient` says whether to retry).
            _ProcessGone: the process died or its pipe broke.
            _NotPlainData: marshal cannot carry a value of the batch.
        """
        try:
            payload = marshal.dumps(batch)
        except ValueError as exc:
            raise _NotPlainData(str(exc)) from exc
        stdin, stdout = self.proc.stdin, self.proc.stdout
        assert stdin is not None and stdout is not None
        try:
            send_frame(stdin, payload)
            reply = self._replies.read()
        except OSError as exc:
            raise _ProcessGone(str(exc)) from exc
        if reply is None:
            self.proc.poll()
            raise _ProcessGone(f"exit code {self.proc.returncode}")
        if reply[0] == "ok":
            return
        error = StoreError(reply[2])
        error.transient = reply[1]  # type: ignore[attr-defined]
        raise error

    def close(self) -> None:
        """End the process: it writes nothing more once its input closes."""
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
