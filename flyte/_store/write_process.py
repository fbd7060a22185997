"""A process that writes batches to a SQLite run store for the engine (the write process).

The engine's writer thread shares the GIL with the engine: while the engine is busy, each
row the writer thread inserts waits for the GIL, so a big run is recorded mostly after
its tasks finish, one after the other. Past a few thousand operations the writer thread
hands its batches to this process instead: SQLite then works on another core, and the
thread only waits on a pipe (GIL released). The writer thread stays the only sequencer,
so order, group commit, retries and the failure rules of `flyte._controller.writer` are
unchanged: this process only applies a batch and says how that went.

Frames on stdin and stdout: a 4-byte big-endian length, then a `marshal` payload (the
operations are plain data: str, int, float, bytes, None, lists and dicts of those).
- parent -> child: a list of operations;
- child -> parent: `("ready",)` once, then per batch `("ok",)` or
  `("error", transient, message)`.

The child exits when its stdin closes (the driver ended or died), or when the driver's
process is gone (checked while idle), so it never outlives the run it records.
"""

from __future__ import annotations

import marshal
import os
import select
import struct
import sys
from typing import IO, Any

__all__ = ["FrameReader", "main", "read_frame", "send_frame", "write_frame"]

_LENGTH = struct.Struct(">I")
_CACHE_KIB = 32 * 1024
_PARENT_CHECK = 1.0  # seconds between checks that the driver still lives, while idle


def send_frame(stream: IO[bytes], payload: bytes) -> None:
    """Send `payload` (marshalled) as one frame, in as few system calls as the pipe takes.

    Written to the descriptor, not through the stream's buffer: each write releases the
    GIL, and the driver's writer thread then waits up to a switch interval to get it back
    while the engine computes (a buffered write of a big frame made two or three).
    """
    stream.flush()  # nothing is written through the buffer; kept safe all the same
    fd = stream.fileno()
    data = memoryview(_LENGTH.pack(len(payload)) + payload)
    while data:
        data = data[os.write(fd, data) :]


def write_frame(stream: IO[bytes], value: Any) -> None:
    """Send `value` as one frame."""
    send_frame(stream, marshal.dumps(value))


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks: list[bytes] = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


class FrameReader:
    """Reads frames from `fd`, a whole small frame in one system call (see `send_frame`)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = b""

    def read(self) -> Any:
        """The next frame's value, or None at the end of the stream."""
        data = self._buffer
        while len(data) < _LENGTH.size:
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                return None
            data += chunk
        end = _LENGTH.size + _LENGTH.unpack_from(data)[0]
        if len(data) < end:
            rest = _read_exactly(self.fd, end - len(data))
            if rest is None:
                return None
            data += rest
        self._buffer = data[end:]
        return marshal.loads(data[_LENGTH.size : end])


def read_frame(fd: int) -> Any:
    """The next frame's value, or None at the end of the stream (reads exactly one)."""
    head = _read_exactly(fd, _LENGTH.size)
    if head is None:
        return None
    body = _read_exactly(fd, _LENGTH.unpack(head)[0])
    if body is None:
        return None
    return marshal.loads(body)


def _wait_readable(fd: int, parent: int) -> bool:
    """Block until `fd` has data; False once the parent process is gone."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while True:
        if poller.poll(_PARENT_CHECK * 1000):
            return True
        if os.getppid() != parent:
            return False


def main() -> None:
    """Serve one driver: apply each batch it sends to the store at argv[1]."""
    # Frames go to the real stdout; anything else printed goes to stderr.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    parent = os.getppid()
    from flyte._controller.writer import _transient
    from flyte._store.sqlite import SqliteRunStore

    store = SqliteRunStore(sys.argv[1])
    # Big runs insert rows at random places of the actions' and attempts' key indexes: a
    # page cache that holds them (pages are cached as they are used, up to this) writes
    # a 100,000-action run about 7% faster than SQLite's default 2 MiB. This process only
    # writes, so the memory is not the engine's.
    store.set_cache_size(_CACHE_KIB)
    write_frame(out, ("ready",))
    fd = sys.stdin.fileno()
    while _wait_readable(fd, parent):
        batch = read_frame(fd)
        if batch is None:
            break
        try:
            store.write([tuple(op) for op in batch])
        except BaseException as exc:  # every failure is reported; the parent decides
            write_frame(out, ("error", _transient(exc), str(exc)))
            continue
        write_frame(out, ("ok",))
    store.close()


if __name__ == "__main__":
    main()
