"""Is the process that drives a run alive? Judged by the process itself on this host.

A heartbeat alone misjudges: an async task that blocks the event loop, a suspended
laptop or a loaded machine makes a live driver look dead, and a reader that believes it
marks the run ABORTED and lets it be deleted under the driver. On the same host the pid
plus the process start time (so a reused pid does not pass for the driver) is the truth;
the heartbeat only judges drivers on other hosts.
"""

from __future__ import annotations

import functools
import os
import socket
import time

__all__ = ["HOST", "driver_alive", "process_start", "this_process_start"]

HOST = socket.gethostname()


@functools.lru_cache(maxsize=1)
def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return "boot"


def process_start(pid: int) -> str | None:
    """An identity for the process `pid` (boot id + start time), or None if unknown.

    None also when the process does not exist or is a zombie (dead, not yet reaped).
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return _psutil_start(pid)
    if fields[0] == b"Z":
        return None
    return f"{_boot_id()}:{fields[19].decode()}"


def _psutil_start(pid: int) -> str | None:
    if os.path.isdir("/proc"):  # Linux without that pid: it is gone
        return None
    try:
        import psutil
    except ImportError:
        return None
    try:
        return f"ct:{psutil.Process(pid).create_time():.3f}"
    except Exception:  # no such process, or not allowed to look: unknown
        return None


@functools.lru_cache(maxsize=1)
def _this_start() -> tuple[int, str | None]:
    return os.getpid(), process_start(os.getpid())


def this_process_start() -> str | None:
    """`process_start` of this process (recomputed after a fork)."""
    pid, start = _this_start()
    if pid != os.getpid():
        _this_start.cache_clear()
        pid, start = _this_start()
    return start


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    try:  # a killed child that nobody reaped yet is a zombie: alive to kill(0), but dead
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def driver_alive(
    pid: int | None,
    host: str | None,
    heartbeat: float | None,
    pid_start: str | None = None,
    *,
    stale_after: float,
) -> bool:
    """Whether the process recorded as driving a run is still there."""
    if host == HOST and pid is not None:
        if pid_start is not None:
            if pid == os.getpid():
                return pid_start == this_process_start()
            current = process_start(pid)
            if current is not None:
                return current == pid_start
            if os.path.isdir("/proc"):  # Linux: that pid is gone or a zombie
                return False
        # No start time to compare (an older row, or no way to read it here): the pid,
        # then the heartbeat.
        if pid != os.getpid() and not _pid_exists(pid):
            return False
    return heartbeat is None or time.time() - heartbeat <= stale_after
