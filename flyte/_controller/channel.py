"""The worker channel: how a task body running in another process reaches the controller.

Transport: `multiprocessing.connection` (length-prefixed frames, HMAC challenge with an
authkey on connect). The same code serves a unix socket (process workers on this machine)
and TCP (Dask workers reaching the driver): only `ChannelServer(family=...)` differs.
Frames are `pickle` protocol 5 tuples whose first item is the message kind.

Worker -> controller
    ("hello", worker_id, pid)                         first frame of a worker
    ("done", key, True, (blob, out_json), info)       an attempt returned (pickled value)
    ("done", key, False, error_blob, info)            an attempt raised (see pack_error)
    ("log", run, action, attempt, stream, line, ts)   a line the body printed or logged
    ("trace", key, TraceRecord)                       a trace checkpoint finished / replayed
    ("trace_get", req, key, trace_id)                 may this trace replay? -> reply
    ("call", req, key, task_ref, call_blob)           a nested task call -> reply
Controller -> worker
    ("run", key, task_ref, payload_blob, context)     run an attempt (context: see worker.py)
    ("reply", req, ok, blob)                          answer to trace_get / call
    ("cancel", key)                                   abort that attempt (Dask: cannot kill)
    ("exit",)                                         leave (idle_ttl passed, shutdown)

`info` carries what the controller records with the attempt (peak RSS). Nested calls are
identified in the worker exactly as in process (`Call`: parent, task, inputs, sequence),
so a run's tree is the same wherever its bodies ran; the controller runs them with cache,
recovery, retries and timeouts of their own and replies with the value or the error.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import pickle
import secrets
import sys
import tempfile
import threading
from collections.abc import Callable
from multiprocessing.connection import Client, Connection, Listener
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flyte._task import TaskTemplate

__all__ = [
    "Channel",
    "ChannelServer",
    "TaskRef",
    "connect",
    "load_task",
    "pack_error",
    "task_ref",
    "unpack_error",
]

_dumps = pickle.dumps
_loads = pickle.loads


class Channel:
    """One end of a worker connection: thread-safe `send`, blocking `recv`."""

    __slots__ = ("_lock", "conn")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._lock = threading.Lock()

    def send(self, message: tuple[Any, ...]) -> None:
        data = _dumps(message, 5)
        with self._lock:
            self.conn.send_bytes(data)

    def recv(self) -> tuple[Any, ...]:
        """The next message.

        Raises:
            EOFError: the other end closed (or its process died).
        """
        return _loads(self.conn.recv_bytes())  # type: ignore[no-any-return]

    def fileno(self) -> int:
        return self.conn.fileno()

    def close(self) -> None:
        try:
            self.conn.close()
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
    if isinstance(ref, TaskRef):
        module = sys.modules.get(ref.module)
        if module is None:
            try:
                module = importlib.import_module(ref.module)
            except ImportError:
                if not ref.file or not os.path.exists(ref.file):
                    raise
                # A file the CLI loaded under a name that is not on sys.path here.
                spec = importlib.util.spec_from_file_location(ref.module, ref.file)
                if spec is None or spec.loader is None:
                    raise
                module = importlib.util.module_from_spec(spec)
                sys.modules[ref.module] = module
                spec.loader.exec_module(module)
        task = getattr(module, ref.attr)
    else:
        task = _loads(ref)
    _loaded[key] = task
    return task  # type: ignore[no-any-return]


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


def unpack_error(blob: bytes) -> BaseException:
    """The exception `pack_error` packed, its traceback text attached as `__flyte_traceback__`."""
    from flyte.errors import RuntimeUserError

    data, text, name, message = _loads(blob)
    exc: BaseException
    try:
        exc = _loads(data) if data is not None else RuntimeUserError(message, code=name)
    except Exception:  # a class that cannot be rebuilt here still reports, by name
        exc = RuntimeUserError(message, code=name)
    try:
        exc.__flyte_traceback__ = text  # type: ignore[union-attr]
    except AttributeError:  # an exception type with __slots__: the traceback is lost
        pass
    return exc
