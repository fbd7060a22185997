"""Timeouts under a tracer (issue 13, item 11): coverage or a debugger must not delay them.

The body blocks in C on an event that is set only after the caller has seen the timeout:
if the timeout waited for the body, the child would deadlock and miss its deadline.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys, threading

def tracer(frame, event, arg):
    return None

sys.settrace(tracer)
threading.settrace(tracer)  # what coverage and debuggers do

import flyte
from flyte._store.memory import MemoryRunStore
from flyte.errors import TaskTimeoutError

flyte.init(store=MemoryRunStore())
env = flyte.TaskEnvironment("traced")
gate = threading.Event()


@env.task(timeout=0.2)
def blocked() -> int:
    gate.wait(120)  # blocked in C until the caller has seen the timeout
    return 1


try:
    flyte.with_runcontext(echo=False).run(blocked)
except TaskTimeoutError:
    print("timed out while the body still ran:", not gate.is_set())
gate.set()
"""


def test_a_sync_timeout_is_reported_at_once_under_a_tracer(tmp_path: Path) -> None:
    script = tmp_path / "traced.py"
    script.write_text(SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "timed out while the body still ran: True"
