"""Values bigger than a socket buffer, and floods of output, cross the worker channel whole.

A send writes what the socket takes at once and leaves the rest to a flusher thread, in
order (`flyte/_controller/channel.py`); these values are many times a socket's buffer.
"""

from __future__ import annotations

from typing import Any

import process_values as pv

import flyte


def test_a_value_far_bigger_than_a_socket_buffer_goes_and_comes_back_whole(
    sqlite_store: Any,
) -> None:
    data = bytes(range(256)) * (48 * 1024)  # 12 MiB, each way
    run = flyte.with_runcontext(echo=False).run(pv.reverse, data)
    assert run.outputs()[0] == data[::-1]
    (action,) = run.actions()
    assert action.phase.value == "SUCCEEDED"


def test_a_flood_of_long_log_lines_arrives_complete_and_in_order(sqlite_store: Any) -> None:
    run = flyte.with_runcontext(echo=False).run(pv.chatter, 3000, 2000)
    assert run.outputs()[0] == 3000
    lines = [line.line for line in sqlite_store.logs(run.name)]
    assert len(lines) == 3000
    assert [int(line[:6]) for line in lines] == list(range(3000))
    assert all(len(line) == 2007 for line in lines)
