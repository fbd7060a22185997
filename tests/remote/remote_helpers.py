"""A real `flyte serve` for the remote tests: a subprocess on a random free port of 127.0.0.1.

The server is ready when `/api/v1/health` answers (polled with a deadline, never a fixed
sleep). Its FLYTE_HOME is its own folder, apart from the client's (the autouse fixture's),
so a test can tell what was written where.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
TOKEN = "test-token-0123456789"


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    """Poll `condition()` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.02)


@dataclass
class Server:
    """A running `flyte serve` subprocess."""

    home: Path
    port: int
    token: str | None
    args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[str] | None = None
    scheme: str = "http"
    ca: Path | None = None  # the certificate to trust, for https

    @property
    def endpoint(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def store_path(self) -> Path:
        return self.home / "runs.db"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLYTE_")}
        env["FLYTE_HOME"] = str(self.home)
        env["PYTHONPATH"] = str(REPO)
        return env

    def start(self, timeout: float = 60.0) -> Server:
        cmd = [sys.executable, "-m", "flyte_cli", "serve", "--port", str(self.port), *self.args]
        if self.token is not None:
            cmd += ["--token", self.token]
        self.proc = subprocess.Popen(
            cmd,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=str(self.home.parent),
        )

        def healthy() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"flyte serve exited: {self.proc.stdout.read()}")  # type: ignore[union-attr]
            context = None
            if self.ca is not None:
                import ssl

                context = ssl.create_default_context(cafile=str(self.ca))
            try:
                with urllib.request.urlopen(
                    f"{self.endpoint}/api/v1/health", timeout=1, context=context
                ) as r:
                    return bool(json.loads(r.read())["status"] == "ok")
            except OSError:
                return False

        wait_for(healthy, timeout, "the server to answer /api/v1/health")
        return self

    def kill(self) -> None:
        """SIGKILL the server (no cleanup): its drivers notice and exit."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> str:
        """Stop the server cleanly; return what it printed."""
        if self.proc is None:
            return ""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        out = self.proc.stdout.read() if self.proc.stdout else ""
        self.proc.stdout and self.proc.stdout.close()
        return out


def driver_pids(home: Path) -> list[int]:
    """Pids of the driver processes of the server whose FLYTE_HOME is `home`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"flyte.server._driver" in cmdline and f"FLYTE_HOME={home}".encode() in environ:
            found.append(int(entry.name))
    return found
