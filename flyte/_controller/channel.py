"""The worker channel: how a task body running in another process reaches the controller.

Transport: a connected socket. `multiprocessing.connection` Listener/Client do the HMAC
challenge with an authkey on connect; then `Channel` sends length-prefixed frames of
`pickle` protocol 5 tuples whose first item is the message kind, and reads them either
blocking or from an event loop (`recv_nowait` under `loop.add_reader`). The same code
serves a unix socket (process workers on this machine) and TCP (Dask workers reaching
the driver): only `ChannelServer(family=...)` differs.

Worker -> controller
    ("hello", worker_id, pid)                         first frame of a worker
    ("done", key, True, (blob, out_json), info)       an attempt returned (pickled value)
    ("done", key, False, error_blob, info)            an attempt raised (see pack_error)
    ("log", key, run, action, attempt, stream, line, ts)   a line the body printed or logged
    ("trace", run, TraceRecord)                       a trace checkpoint finished / replayed
    ("trace_get", req, run, trace_id)                 may this trace replay? -> reply
    ("call", req, key, task_key, ref, payload, id, seq, group)   a nested task call -> reply
    ("put", run, op)                                  a store op a body wrote (reports)
Controller -> worker
    ("run", key, task_key, ref, payload, context)     run an attempt (context: see worker.py)
    ("reply", req, ok, blob)                          answer to trace_get / call
    ("cancel", key)                                   abort that attempt (Dask: cannot kill)
    ("exit",)                                         leave (idle_ttl passed, shutdown)

`info` carries what the controller records with the attempt (peak RSS). Nested calls are
identified in the worker exactly as in process (`Call`: parent, task, inputs, sequence),
so a run's tree is the same wherever its bodies ran; the controller runs them with cache,
recovery, retries and timeouts of their own and replies with the value or the error.
"""

from __future__ import annotations

import collections
import hashlib
import importlib
import importlib.util
import os
import pickle
import secrets
import socket
import sys
import tempfile
import threading
import weakref
from collections.abc import Callable
from multiprocessing.connection import Client, Connection, Listener
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

    from flyte._task import TaskTemplate

__all__ = [
    "Channel",
    "ChannelServer",
    "TaskRef",
    "attempt_context",
    "connect",
    "load_task",
    "pack_error",
    "task_ref",
    "unpack_error",
]

_dumps = pickle.dumps
_loads = pickle.loads


_MSG_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)
_CHUNK = 1 << 16


class Channel:
    """One end of a worker connection: framed pickled messages over a connected socket.

    `multiprocessing.connection` does the authkey handshake; then the socket carries
    length-prefixed frames (4-byte big-endian length, pickle protocol 5). Reads come two
    ways: `recv()` blocks (a worker's or the zygote's loop); `recv_nowait()` returns what
    has arrived, for an event loop's `add_reader` (no reader thread, no thread hop).

    `send` never blocks its caller for long: it writes what the socket takes at once and
    leaves the rest to a flusher thread, in order. Two ends that both block sending while
    neither reads would deadlock; this way every sender keeps reading.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sock = socket.socket(fileno=os.dup(conn.fileno()))
        self.sock.setblocking(True)
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._backlog: collections.deque[memoryview] = collections.deque()
        self._flusher: threading.Thread | None = None
        self._soon: list[bytes] = []
        self._turn = False  # send_soon sent a message this turn of its loop
        self._holding = False  # hold(): send_soon batches until flush_soon
        self._buf = bytearray()
        self._eof = False
        self._closed = False

    def fileno(self) -> int:
        return self.sock.fileno()

    # -- sending -------------------------------------------------------------------

    def send(self, message: tuple[Any, ...]) -> None:
        """Queue `message` (thread-safe; delivered in the order sent).

        Raises:
            OSError: the connection is closed or broken.
        """
        data = _dumps(message, 5)
        self._send_frames(len(data).to_bytes(4, "big") + data)

    def send_soon(self, message: tuple[Any, ...], loop: asyncio.AbstractEventLoop) -> None:
        """Send `message` now if it is the first of this turn of `loop`, else at the end of
        the turn with the others sent meanwhile.

        A lone message (a sequential round trip) leaves at once, with no loop turn in
        between; a fan-out's worth leaves in one write instead of one each. Call it from
        `loop`'s thread only; its messages keep their order among themselves, but a
        `send` meanwhile (any thread) may overtake them, so batch only messages whose
        order against those does not matter (runs and replies; a worker's `done`, which
        is the last message of its attempt).
        """
        data = _dumps(message, 5)
        if not (self._turn or self._holding):
            self._turn = True
            loop.call_soon(self._end_turn)
            try:
                self._send_frames(len(data).to_bytes(4, "big") + data)
            except OSError:
                pass  # the peer is gone: its EOF reports that
            return
        pending = self._soon
        pending.append(len(data).to_bytes(4, "big"))
        pending.append(data)

    def _end_turn(self) -> None:
        self._turn = False
        self._send_soon()

    def hold(self) -> None:
        """Batch every `send_soon` until `flush_soon`, the first one too.

        For a loop callback that handles a whole read (a worker starting the attempts of
        one read): its replies leave in one write when it calls `flush_soon` at its end,
        not the first at once and the rest a loop turn later.
        """
        self._holding = True

    def flush_soon(self) -> None:
        """Send what `send_soon` batched now (from the loop's thread, before it blocks)."""
        self._holding = False
        if self._soon:
            self._send_soon()

    def _send_soon(self) -> None:
        if not self._soon:
            return
        frames, self._soon = b"".join(self._soon), []
        try:
            self._send_frames(frames)
        except OSError:
            pass  # the peer is gone: its EOF reports that

    def _send_frames(self, frame: bytes) -> None:
        with self._lock:
            if self._closed:
                raise OSError("the channel is closed")
            if not self._backlog:
                try:
                    sent = self.sock.send(frame, _MSG_DONTWAIT)
                except (BlockingIOError, InterruptedError):
                    sent = 0
                if sent == len(frame):
                    return
                self._backlog.append(memoryview(frame)[sent:])
            else:
                self._backlog.append(memoryview(frame))
            if self._flusher is None:
                self._flusher = threading.Thread(
                    target=self._flush, name="flyte-channel-send", daemon=True
                )
                self._flusher.start()
            self._ready.notify()

    def _flush(self) -> None:
        while True:
            with self._lock:
                while not self._backlog:
                    if self._closed or (not self._ready.wait(5.0) and not self._backlog):
                        self._flusher = None
                        return
                data = self._backlog[0]
            try:
                self.sock.sendall(data)
            except OSError:
                with self._lock:
                    self._backlog.clear()
                    self._flusher = None
                return
            with self._lock:
                self._backlog.popleft()

    # -- receiving -----------------------------------------------------------------

    def _frames(self) -> list[tuple[Any, ...]]:
        buf = self._buf
        out: list[tuple[Any, ...]] = []
        at = 0
        size = len(buf)
        while size - at >= 4:
            n = int.from_bytes(buf[at : at + 4], "big")
            if size - at - 4 < n:
                break
            out.append(_loads(buf[at + 4 : at + 4 + n]))
            at += 4 + n
        if at:
            del buf[:at]
        return out

    def recv(self) -> tuple[Any, ...]:
        """The next message, waiting for it.

        Raises:
            EOFError: the other end closed (or its process died).
        """
        while True:
            frames = self._frames_one()
            if frames is not None:
                return frames
            if self._eof:
                raise EOFError
            try:
                data = self.sock.recv(_CHUNK)
            except InterruptedError:
                continue
            except OSError as exc:
                raise EOFError(str(exc)) from None
            if not data:
                self._eof = True
                raise EOFError
            self._buf += data

    def _frames_one(self) -> tuple[Any, ...] | None:
        buf = self._buf
        if len(buf) < 4:
            return None
        n = int.from_bytes(buf[:4], "big")
        if len(buf) - 4 < n:
            return None
        message = _loads(buf[4 : 4 + n])
        del buf[: 4 + n]
        return message  # type: ignore[no-any-return]

    def recv_nowait(self) -> list[tuple[Any, ...]]:
        """Every complete message that has arrived (maybe none); never waits.

        Raises:
            EOFError: the other end closed and every message before that was returned.
        """
        while not self._eof:
            try:
                data = self.sock.recv(_CHUNK, _MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                data = b""
            if not data:
                self._eof = True
                break
            self._buf += data
            if len(data) < _CHUNK:
                break
        frames = self._frames()
        if not frames and self._eof:
            raise EOFError
        return frames

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._ready.notify_all()
        for closing in (self.sock.close, self.conn.close):
            try:
                closing()
            except OSError:
                pass


class ChannelServer:
    """Accepts worker connections on a unix socket (default) or TCP; one thread accepts.

    Example:
        server = ChannelServer(on_connect=lambda ch, hello: ...)       # unix socket
        server = ChannelServer(on_connect=..., family="AF_INET", host="0.0.0.0")  # TCP
        worker side: ch = connect(server.address, server.authkey)
    """

    def __init__(
        self,
        on_connect: Callable[[Channel, tuple[Any, ...]], None],
        *,
        family: str = "AF_UNIX",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.authkey = secrets.token_bytes(32)
        self._dir: str | None = None
        if family == "AF_UNIX":
            self._dir = tempfile.mkdtemp(prefix="flyte-workers-")
            address: Any = os.path.join(self._dir, "channel")
        else:
            address = (host, port)
        self._listener = Listener(address, family=family, authkey=self.authkey, backlog=128)
        self.address: Any = self._listener.address
        self._on_connect = on_connect
        self._closed = False
        self._thread = threading.Thread(target=self._accept, name="flyte-channel", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn = self._listener.accept()
            except OSError:
                if self._closed:
                    return
                continue  # a peer that failed the authkey challenge, or went away
            except Exception:
                continue
            channel = Channel(conn)
            try:
                hello = channel.recv()
            except (EOFError, OSError):
                channel.close()
                continue
            self._on_connect(channel, hello)

    def close(self) -> None:
        self._closed = True
        try:
            self._listener.close()
        except OSError:
            pass
        if self._dir is not None:
            import shutil

            shutil.rmtree(self._dir, ignore_errors=True)


def connect(address: Any, authkey: bytes) -> Channel:
    """Connect to a `ChannelServer` (unix socket path or (host, port))."""
    return Channel(Client(address, authkey=authkey))


# -- tasks across the boundary ------------------------------------------------------


class TaskRef:
    """A task found by import in the other process: its module, attribute and file.

    Importing (instead of unpickling a copy) gives the worker the module's real state, so
    module-level state and imports are paid once per warm worker, as on a cluster.
    """

    __slots__ = ("attr", "digest", "file", "module")

    def __init__(self, module: str, attr: str, file: str | None, key: str) -> None:
        self.module = module
        self.attr = attr
        self.file = file
        self.digest = key

    def __getstate__(self) -> tuple[str, str, str | None, str]:
        return (self.module, self.attr, self.file, self.digest)

    def __setstate__(self, state: tuple[str, str, str | None, str]) -> None:
        self.module, self.attr, self.file, self.digest = state


_refs: dict[int, tuple[Any, str, TaskRef | bytes]] = {}
_refs_lock = threading.Lock()


def task_ref(task: TaskTemplate[Any, Any]) -> tuple[str, TaskRef | bytes]:
    """How to name `task` to another process: (key, a TaskRef when importable, else a pickle).

    Computed once per task object (the object is kept alive beside its ref). A peer that
    already loaded the key is sent the key alone.
    """
    found = _refs.get(id(task))
    if found is not None and found[0] is task:
        return found[1], found[2]
    ref: TaskRef | bytes
    module = sys.modules.get(task.__module__)
    attr = task.__name__
    if module is not None and task.__module__ != "__main__" and getattr(module, attr, None) is task:
        file = getattr(module, "__file__", None)
        key = (
            "m:" + hashlib.blake2b(f"{task.__module__}:{attr}".encode(), digest_size=8).hexdigest()
        )
        ref = TaskRef(task.__module__, attr, file, key)
    else:
        import cloudpickle

        ref = bytes(cloudpickle.dumps(task, protocol=5))
        key = "p:" + hashlib.blake2b(ref, digest_size=12).hexdigest()
    with _refs_lock:
        if len(_refs) > 4096:
            _refs.clear()
        _refs[id(task)] = (task, key, ref)
    return key, ref


_loaded: dict[str, Any] = {}
# Loads are serialized: a script module sits in sys.modules from before it runs (as an
# import's does), and a second thread taking it there would get it half-run.
_load_lock = threading.RLock()


def load_task(key: str, ref: TaskRef | bytes | None) -> TaskTemplate[Any, Any]:
    """The task `key` names, imported (or unpickled from `ref`) once per process.

    Raises:
        KeyError: `ref` is None and this process never loaded `key`.
    """
    task = _loaded.get(key)
    if task is not None:
        return task  # type: ignore[no-any-return]
    if ref is None:
        raise KeyError(f"task {key} was never sent to this process")
    with _load_lock:
        task = _loaded.get(key)
        if task is not None:  # another thread loaded it meanwhile
            return task  # type: ignore[no-any-return]
        if isinstance(ref, TaskRef):
            module = sys.modules.get(ref.module)
            if module is None:
                module = _import_task_module(ref)
            task = getattr(module, ref.attr)
        else:
            task = _loads(ref)
        _loaded[key] = task
    return task  # type: ignore[no-any-return]


def _import_task_module(ref: TaskRef) -> Any:
    """`ref`'s module: imported by name, or run from its file when the name does not
    import here (a file the CLI loaded under a name that is not on sys.path here)."""
    try:
        return importlib.import_module(ref.module)
    except ImportError as exc:
        if not ref.file or not os.path.exists(ref.file):
            raise
        missing = exc
    spec = importlib.util.spec_from_file_location(ref.module, ref.file)
    if spec is None or spec.loader is None:
        raise missing
    module = importlib.util.module_from_spec(spec)
    sys.modules[ref.module] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(ref.module, None)  # not left half-run for the next attempt
        raise
    return module


# -- errors across the boundary -----------------------------------------------------


def pack_error(exc: BaseException) -> bytes:
    """Pickle an exception with its user traceback as text (frames cannot travel).

    The exception is pickled on its own, so one that cannot be pickled (or unpickled: a
    constructor with other arguments than its `args`) still arrives, as a RuntimeUserError
    naming its type, with its message and traceback.
    """
    from flyte._controller.calls import format_user_traceback
    from flyte.errors import plain_error

    text = format_user_traceback(exc)
    exc = plain_error(exc)
    data: bytes | None
    try:
        data = _dumps(exc, 5)
    except Exception:
        try:
            import cloudpickle

            data = bytes(cloudpickle.dumps(exc, protocol=5))
        except Exception:
            data = None
    code = getattr(exc, "code", None)
    name = code if isinstance(code, str) and code else type(exc).__name__
    return _dumps((data, text, name, str(exc)), 5)


def _by_name(name: str, message: str) -> BaseException:
    """The error `name` names, from its message: flyte's own types by their class (so
    `except flyte.errors.OOMError` still catches it), any other as a RuntimeUserError."""
    import flyte.errors
    from flyte.errors import RuntimeUserError

    cls = getattr(flyte.errors, name, None)
    if isinstance(cls, type) and issubclass(cls, RuntimeUserError):
        try:
            return cls(message, code=name)
        except Exception:
            pass
    return RuntimeUserError(message, code=name)


def unpack_error(blob: bytes) -> BaseException:
    """The exception `pack_error` packed, its traceback text attached as `__flyte_traceback__`."""

    data, text, name, message = _loads(blob)
    exc: BaseException
    try:
        exc = _loads(data) if data is not None else _by_name(name, message)
    except Exception:  # a class that cannot be rebuilt here still reports, by name
        exc = _by_name(name, message)
    try:
        exc.__flyte_traceback__ = text  # type: ignore[attr-defined]
    except AttributeError:  # an exception type with __slots__: the traceback is lost
        pass
    return exc


def attempt_context(run: Any, child: Any) -> tuple[Any, ...]:
    """What a worker needs to run one attempt as the driver would (sent with the attempt).

    Args:
        run: the attempt's `RunState`.
        child: the attempt's `ActionContext`.

    Returns:
        (run name, action id, attempt, mode, labels, echo, custom context, group, options).
    """
    if not _context_vars:
        from flyte._context import group_var
        from flyte._map import custom_context_var

        _context_vars.extend((custom_context_var, group_var))
    custom_var, group_var_ = _context_vars
    options = _run_options.get(run)
    if options is None:
        # Fixed for the run: built once, not per attempt (a fan-out sends thousands).
        options = _run_options[run] = {
            "disable_run_cache": run.options.disable_run_cache,
            "started_at": getattr(run, "started_at", None),
        }
    return (
        run.name,
        child.action_id,
        child.attempt,
        run.mode,
        run.labels,
        run.echo,
        custom_var.get(),
        group_var_.get(),
        options,
    )


_context_vars: list[Any] = []
_run_options: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
