"""Driver processes: one per server run, forked warm, so runs outlive their clients.

`DriverPool.submit` stores a run request under `$FLYTE_HOME/server/` (the shipped code,
content-addressed; the pickled inputs; the task snapshot), hands it to the fork server
(`flyte.server._driver`), which forks a child to drive the run, and waits for
"started". The server only writes files here; user code and pickles are loaded in the
driver children, never in the server process.

Layout under `$FLYTE_HOME/server/`:

    code/<digest>/pkg/mod.py       the modules a client shipped (shared by identical bundles)
    runs/<run>/request.json        what the driver was asked to do
    runs/<run>/inputs.pkl          the inputs, pickled by the client
    runs/<run>/task.pkl            the task snapshot (rerun and `__main__` tasks)
    drivers/driver-<pid>-<ns>.log  the drivers' stderr (removed when empty at shutdown)
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path, PurePosixPath
from typing import IO, Any, cast

from flyte.errors import UserError

__all__ = ["Driver", "DriverPool", "check_files"]

_READY_TIMEOUT = 120.0  # a cold driver on a busy 2-core machine imports slowly
_START_TIMEOUT = 120.0  # importing the user's modules may take long too
_MAX_FILES = 2000
_MAX_ENDED = 10_000


def check_files(files: Any) -> dict[str, str]:
    """Validate shipped module files: relative `.py` paths inside the code dir, text.

    Raises:
        UserError: a path is absolute, escapes with `..`, or is not a .py file.
    """
    if not isinstance(files, dict):
        raise UserError("bundle.files must be an object of path -> source text")
    if len(files) > _MAX_FILES:
        raise UserError(f"bundle.files has {len(files)} files; at most {_MAX_FILES}")
    for path, text in files.items():
        pure = PurePosixPath(path)
        if (
            not isinstance(text, str)
            or pure.is_absolute()
            or ".." in pure.parts
            or pure.suffix != ".py"
            or "\\" in path
            or not pure.parts
        ):
            raise UserError(f"bundle.files: {path!r} is not a relative .py path with text")
    return files


class Driver:
    """The fork server process (`flyte.server._driver`) and its protocol pipes.

    A reader thread routes each answer line to the request waiting for it, so several
    runs can start at once.
    """

    def __init__(self, proc: subprocess.Popen[bytes], log_path: Path) -> None:
        self.proc = proc
        self.log_path = log_path
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._waiting: dict[str, tuple[threading.Event, list[dict[str, Any]]]] = {}
        self.ended: dict[str, None] = {}  # runs that ended, newest last (bounded)
        self._reader = threading.Thread(target=self._read, name="flyte-driver-io", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        stdout = cast(IO[bytes], self.proc.stdout)
        for raw in stdout:
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            if message.get("ready"):
                self._ready.set()
                continue
            if "ended" in message:
                self.ended[str(message["ended"])] = None
                while len(self.ended) > _MAX_ENDED:
                    del self.ended[next(iter(self.ended))]
                continue
            with self._lock:
                waiter = self._waiting.pop(str(message.get("request")), None)
            if waiter is not None:
                waiter[1].append(message)
                waiter[0].set()
        with self._lock:  # the driver exited: nobody will answer the requests in flight
            waiting, self._waiting = self._waiting, {}
        for event, _ in waiting.values():
            event.set()
        self._ready.set()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self) -> None:
        """Block until the driver has imported the engine.

        Raises:
            UserError: it exited or did not get ready in time.
        """
        if not self._ready.wait(_READY_TIMEOUT) or not self.alive():
            raise UserError(f"the run driver did not start; see {self.log_path}")

    def hand(self, request_path: Path) -> dict[str, Any]:
        """Give the driver a run request; return its answer ("started" or "error").

        Raises:
            UserError: the driver died or did not answer in time.
        """
        event: threading.Event = threading.Event()
        answer: list[dict[str, Any]] = []
        with self._lock:
            self._waiting[str(request_path)] = (event, answer)
            stdin = cast(IO[bytes], self.proc.stdin)
            try:
                stdin.write((json.dumps(str(request_path)) + "\n").encode())
                stdin.flush()
            except OSError:
                self._waiting.pop(str(request_path), None)
                raise UserError(f"the run driver is gone; see {self.log_path}") from None
        if not event.wait(_START_TIMEOUT) or not answer:
            with self._lock:
                self._waiting.pop(str(request_path), None)
            raise UserError(
                f"the run did not start within {_START_TIMEOUT:g}s; see {self.log_path}"
            )
        return answer[0]

    def close(self) -> None:
        """Close its stdin: the driver exits, and the runs it drives stop (interrupted)."""
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:
            pass


class DriverPool:
    """Starts runs in children of one warm fork-server process.

    Example:
        pool = DriverPool("/srv/flyte/runs.db", Path("/srv/flyte/server"))
        pool.start()
        name = pool.submit({"kind": "task", "name": "swift-otter-4f2a9c", ...})
        pool.shutdown()
    """

    def __init__(self, store_path: str, work: Path, *, executor: str | None = None) -> None:
        self.store_path = store_path
        self.work = work
        self.executor = executor
        for sub in ("code", "runs", "drivers"):
            (work / sub).mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._driver: Driver | None = None
        self._closed = False

    def start(self) -> None:
        """Start the fork server (it gets ready in the background)."""
        self._get()

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("FLYTE_ENDPOINT", "FLYTE_API_KEY")}
        env["FLYTE_STORE"] = self.store_path
        root = str(Path(__file__).resolve().parents[2])  # where `flyte` is importable from
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        if self.executor:
            env["FLYTE_EXECUTOR"] = self.executor
        return env

    def _spawn(self) -> Driver:
        log_path = self.work / "drivers" / f"driver-{os.getpid()}-{time.time_ns()}.log"
        with open(log_path, "wb") as log:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(
                [sys.executable, "-m", "flyte.server._driver", self.store_path],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                cwd=self.work,
                env=self._env(),
                # Its own session: Ctrl-C in the server's terminal reaches the server only,
                # which then stops the drivers itself (closing their pipe).
                start_new_session=True,
            )
        return Driver(proc, log_path)

    def _get(self) -> Driver:
        """The fork server, started again if it died."""
        with self._lock:
            if self._closed:
                raise UserError("the server is shutting down")
            if self._driver is None or not self._driver.alive():
                self._driver = self._spawn()
            return self._driver

    def has_ended(self, run: str) -> bool:
        """Whether a run driven here has reported its end (an in-memory look-up)."""
        driver = self._driver
        return driver is not None and run in driver.ended

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the fork server: runs in flight end interrupted (recoverable)."""
        with self._lock:
            self._closed = True
            driver, self._driver = self._driver, None
        if driver is None:
            return
        driver.close()
        try:
            driver.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            driver.proc.kill()
            driver.proc.wait()
        if driver.log_path.stat().st_size == 0:
            driver.log_path.unlink(missing_ok=True)

    # -- requests --------------------------------------------------------------------

    def _code_dir(self, files: dict[str, str]) -> Path:
        """The content-addressed folder holding `files` (written once, atomically)."""
        digest = hashlib.sha256(
            json.dumps(files, sort_keys=True, ensure_ascii=False).encode()
        ).hexdigest()[:24]
        target = self.work / "code" / digest
        if target.is_dir():
            return target
        staging = self.work / "code" / f".{digest}.{os.getpid()}.{threading.get_ident()}"
        for rel, text in files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        try:
            staging.rename(target)
        except OSError:  # another request wrote the same bundle first
            import shutil

            shutil.rmtree(staging, ignore_errors=True)
        return target

    def submit(
        self,
        request: dict[str, Any],
        *,
        inputs: bytes | None = None,
        snapshot: bytes | None = None,
        files: dict[str, str] | None = None,
    ) -> str:
        """Start the run described by `request` in a driver; return its name once started.

        Raises:
            UserError: the name is taken, or the driver could not load the code or inputs
                (the message says why, e.g. a module missing on the server).
        """
        name = request["name"]
        run_dir = self.work / "runs" / name
        try:
            run_dir.mkdir(parents=True)
        except FileExistsError:
            raise UserError(f"a run named {name!r} already exists; choose another name") from None
        if inputs is not None:
            (run_dir / "inputs.pkl").write_bytes(inputs)
            request["inputs_path"] = str(run_dir / "inputs.pkl")
        if snapshot is not None:
            (run_dir / "task.pkl").write_bytes(snapshot)
            request["snapshot_path"] = str(run_dir / "task.pkl")
        if files:
            request["code_dir"] = str(self._code_dir(files))
        request_path = run_dir / "request.json"
        request_path.write_text(json.dumps(request))
        driver = self._get()
        driver.wait_ready()
        answer = driver.hand(request_path)
        if "started" not in answer:
            error = answer.get("error") or {}
            import flyte.errors

            cls = getattr(flyte.errors, str(error.get("type")), None)
            if not (isinstance(cls, type) and issubclass(cls, UserError)):
                cls = UserError
            raise cls(str(error.get("message") or "the run could not start"))
        return name

    def forget(self, run: str) -> None:
        """Remove what was kept for `run` (its request, inputs and snapshot; code is shared)."""
        import shutil

        runs = (self.work / "runs").resolve()
        target = (runs / run).resolve()
        if target.parent == runs:  # never outside runs/, whatever the name
            shutil.rmtree(target, ignore_errors=True)

    def task_snapshot(self, run: str) -> bytes | None:
        """The task snapshot a client shipped with `run`, if any."""
        path = self.work / "runs" / run / "task.pkl"
        return path.read_bytes() if path.is_file() else None
