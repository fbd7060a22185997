"""Driver processes: one per server run, started warm, so runs outlive their clients.

`DriverPool.submit` stores a run request under `$FLYTE_HOME/server/` (the shipped code,
content-addressed; the pickled inputs; the task snapshot), hands it to the warm spare
driver (`flyte.server._driver`), waits for "started" and warms the next spare. The
server only writes files here; user code and pickles are loaded in the driver, never in
the server process.

Layout under `$FLYTE_HOME/server/`:

    code/<digest>/pkg/mod.py       the modules a client shipped (shared by identical bundles)
    runs/<run>/request.json        what the driver was asked to do
    runs/<run>/inputs.pkl          the inputs, pickled by the client
    runs/<run>/task.pkl            the task snapshot (rerun and `__main__` tasks)
    drivers/driver-<pid>.log       a driver's stderr; removed when it exits cleanly
"""

from __future__ import annotations

import hashlib
import json
import os
import select
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
    """One driver process and its protocol pipes."""

    def __init__(self, proc: subprocess.Popen[bytes], log_path: Path) -> None:
        self.proc = proc
        self.log_path = log_path
        self.ready = False
        self.run: str | None = None

    def _read_line(self, timeout: float) -> dict[str, Any]:
        stdout = cast(IO[bytes], self.proc.stdout)
        deadline = time.monotonic() + timeout
        buffer = b""
        while not buffer.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0:
                raise UserError(f"the run driver did not answer within {timeout:g}s")
            readable, _, _ = select.select([stdout], [], [], left)
            if not readable:
                continue
            chunk = os.read(stdout.fileno(), 65536)
            if not chunk:
                raise UserError(f"the run driver exited early; see {self.log_path}")
            buffer += chunk
        return json.loads(buffer.decode())  # type: ignore[no-any-return]

    def wait_ready(self) -> None:
        if not self.ready:
            self._read_line(_READY_TIMEOUT)
            self.ready = True

    def hand(self, request_path: Path) -> dict[str, Any]:
        """Give this driver its run request; return its answer ("started" or "error")."""
        stdin = cast(IO[bytes], self.proc.stdin)
        stdin.write((json.dumps(str(request_path)) + "\n").encode())
        stdin.flush()
        return self._read_line(_START_TIMEOUT)

    def close(self) -> None:
        """Close its stdin: an idle driver exits, a driving one stops (run interrupted)."""
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:
            pass


class DriverPool:
    """Starts runs in driver processes, one warm spare ahead.

    Example:
        pool = DriverPool("/srv/flyte/runs.db", Path("/srv/flyte/server"))
        name = pool.submit({"kind": "task", "name": None, ...})
        pool.shutdown()
    """

    def __init__(self, store_path: str, work: Path, *, executor: str | None = None) -> None:
        self.store_path = store_path
        self.work = work
        self.executor = executor
        for sub in ("code", "runs", "drivers"):
            (work / sub).mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._spare: Driver | None = None
        self._running: dict[str, Driver] = {}
        self._closed = False
        self._reaper = threading.Thread(target=self._reap_loop, name="flyte-reaper", daemon=True)

    # -- processes -------------------------------------------------------------------

    def start(self) -> None:
        """Warm the first spare and start reaping finished drivers."""
        with self._lock:
            if self._spare is None:
                self._spare = self._spawn()
        self._reaper.start()

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("FLYTE_ENDPOINT", "FLYTE_API_KEY")}
        env["FLYTE_STORE"] = self.store_path
        root = str(Path(__file__).resolve().parents[2])  # where `flyte` is importable from
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        if self.executor:
            env["FLYTE_EXECUTOR"] = self.executor
        return env

    def _spawn(self) -> Driver:
        log_path = self.work / "drivers" / f"driver-{time.time_ns()}.log"
        log = open(log_path, "wb")  # noqa: SIM115  (handed to the child; closed below)
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "flyte.server._driver", self.store_path],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                cwd=self.work,
                env=self._env(),
            )
        finally:
            log.close()
        final = self.work / "drivers" / f"driver-{proc.pid}.log"
        try:
            log_path.rename(final)
        except OSError:
            final = log_path
        return Driver(proc, final)

    def _take(self) -> Driver:
        with self._lock:
            if self._closed:
                raise UserError("the server is shutting down")
            driver, self._spare = self._spare, None
        if driver is None or driver.proc.poll() is not None:
            driver = self._spawn()
        threading.Thread(target=self._replenish, daemon=True).start()
        driver.wait_ready()
        return driver

    def _replenish(self) -> None:
        with self._lock:
            if self._closed or self._spare is not None:
                return
            self._spare = self._spawn()

    def _reap_loop(self) -> None:
        while not self._closed:
            time.sleep(0.5)
            self.reap()

    def reap(self) -> None:
        """Collect drivers whose run ended (no zombies); drop the logs of clean exits."""
        with self._lock:
            done = [(n, d) for n, d in self._running.items() if d.proc.poll() is not None]
            for name, _ in done:
                del self._running[name]
        for _, driver in done:
            driver.close()
            if driver.proc.returncode == 0:
                driver.log_path.unlink(missing_ok=True)

    def running(self) -> list[str]:
        """Names of the runs whose driver is still alive."""
        self.reap()
        with self._lock:
            return list(self._running)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop every driver: the spare exits, runs in flight end interrupted."""
        with self._lock:
            self._closed = True
            drivers = [d for d in (self._spare, *self._running.values()) if d is not None]
            self._spare = None
        for driver in drivers:
            driver.close()
        deadline = time.monotonic() + timeout
        for driver in drivers:
            try:
                driver.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                driver.proc.kill()
                driver.proc.wait()
            if driver.proc.returncode == 0:
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
        driver = self._take()
        answer = driver.hand(request_path)
        if "started" not in answer:
            driver.close()
            error = answer.get("error") or {}
            import flyte.errors

            cls = getattr(flyte.errors, str(error.get("type")), None)
            if not (isinstance(cls, type) and issubclass(cls, UserError)):
                cls = UserError
            raise cls(str(error.get("message") or "the run could not start"))
        driver.run = name
        with self._lock:
            self._running[name] = driver
        return name

    def task_snapshot(self, run: str) -> bytes | None:
        """The task snapshot a client shipped with `run`, if any."""
        path = self.work / "runs" / run / "task.pkl"
        return path.read_bytes() if path.is_file() else None
