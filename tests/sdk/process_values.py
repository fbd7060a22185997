"""Tasks that move big values and many log lines through a process worker's channel."""

from __future__ import annotations

import flyte

big_env = flyte.TaskEnvironment("big_values", resources=flyte.Resources(memory="1Gi"))


@big_env.task
def reverse(data: bytes) -> bytes:
    return data[::-1]


@big_env.task
def chatter(lines: int, width: int) -> int:
    for i in range(lines):
        print(f"{i:06d} " + "x" * width)
    return lines
