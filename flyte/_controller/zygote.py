"""The zygote: a prepared interpreter that forks workers (started by `ProcessExecutor`).

Starting a Python process and importing flyte costs ~100 ms; forking one that already did
costs a few. The zygote is started once per driver, imports what every worker needs,
stays single-threaded (forking a threaded process is unsafe) and forks a worker per
request: each child gets the environment, `sys.path` and working directory it is sent,
so env vars are isolated per worker exactly. Being the parent, the zygote reaps its
children and reports how each one ended (exit code or signal, peak RSS), which is how the
controller names the signal of a worker that crashed.

Messages on its channel: controller -> zygote `("fork", worker_id, env, sys_path, cwd)`;
zygote -> controller `("zygote", pid)` (hello), `("forked", worker_id, pid)`,
`("exited", pid, exit_code, peak_rss_bytes)` (exit_code < 0: killed by that signal).
"""

from __future__ import annotations

import os
import signal
import sys
from multiprocessing.connection import wait
from typing import Any

# Seconds between checks that the driver still lives (see `main`).
_PARENT_CHECK = 1.0

__all__ = ["main"]


def _fork_worker(
    channel: Any,
    wakeup: tuple[int, int],
    address: Any,
    authkey: bytes,
    worker_id: int,
    env: dict[str, str],
    sys_path: list[str],
    cwd: str,
) -> int:
    pid = os.fork()
    if pid:
        return pid
    # The child: leave the zygote's plumbing, take the worker's environment, serve.
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in wakeup:
            os.close(fd)
        channel.close()
        # A session of its own: Ctrl-C in the terminal reaches the driver (which aborts
        # and stops its workers), not every worker at once.
        os.setsid()
        os.environ.clear()
        os.environ.update(env)
        sys.path[:] = sys_path
        try:
            os.chdir(cwd)
        except OSError:
            pass
        from flyte._controller.worker import serve

        serve(address, authkey, worker_id)
    finally:
        os._exit(70)


def _reap(channel: Any) -> None:
    while True:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        peak = int(usage.ru_maxrss) * (1 if sys.platform == "darwin" else 1024)
        channel.send(("exited", pid, os.waitstatus_to_exitcode(status), peak))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    address: Any = args[0]
    if len(args) > 1:  # TCP: host and port
        address = (args[0], int(args[1]))
    authkey = bytes.fromhex(sys.stdin.readline().strip())
    # Preload what every worker imports, once, before any fork.
    import cloudpickle  # noqa: F401

    import flyte
    import flyte._controller.worker
    import flyte._store.logs  # noqa: F401
    from flyte._controller.channel import connect

    channel = connect(address, authkey)
    channel.send(("zygote", os.getpid()))
    # The driver started us. Its channel closing is the usual sign that it is gone, but a
    # process it forked may keep that socket open: being re-parented says it for sure.
    driver = os.getppid()
    r, w = os.pipe()
    os.set_blocking(r, False)
    os.set_blocking(w, False)
    signal.set_wakeup_fd(w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver decides; it stops us
    try:
        while True:
            ready = wait([channel.sock, r], timeout=_PARENT_CHECK)
            if os.getppid() != driver:
                break
            if r in ready:
                try:
                    while os.read(r, 512):
                        pass
                except BlockingIOError:
                    pass
                _reap(channel)
            if channel.sock in ready:
                try:
                    # Every complete frame that arrived: one read may bring several, and
                    # a frame left in the buffer would wait for the next wake-up forever.
                    messages = channel.recv_nowait()
                except EOFError:
                    break
                for message in messages:
                    if message[0] == "exit":
                        return 0
                    if message[0] == "fork":
                        _, worker_id, env, sys_path, cwd = message
                        pid = _fork_worker(
                            channel, (r, w), address, authkey, worker_id, env, sys_path, cwd
                        )
                        channel.send(("forked", worker_id, pid))
                        _reap(channel)
    finally:
        os._exit(0)
    return 0  # pragma: no cover - os._exit above


if __name__ == "__main__":
    main()
