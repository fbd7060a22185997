"""`flyte logs` and `flyte get actions --json` of big runs stream in bounded memory, and the
benchmark harness measures a command's own peak memory.

Each command runs in a fresh interpreter that reports its own high-water mark (VmHWM of
its own address space, which a parent's size cannot inflate); bounds are generous (the
streamed commands peak near 40 MiB), the data far bigger than them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flyte._store.sqlite import SqliteRunStore

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc"
)

REPO = Path(__file__).resolve().parents[2]
DATA_MB = 80
BOUND_MIB = 64.0

_MEASURED = """
import atexit, sys

def _peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            sys.stderr.write(f"PEAK_KIB {line.split()[1]}\\n")

atexit.register(_peak)
sys.argv = ["flyte", *sys.argv[1:]]
from flyte_cli import main
main()
"""


def _peak_mib(args: list[str], home: Path) -> tuple[float, int]:
    """Peak RSS (MiB) of `flyte ARGS` and how many bytes it printed (to a file)."""
    out = home / "out.txt"
    with out.open("wb") as sink:
        proc = subprocess.run(
            [sys.executable, "-c", _MEASURED, *args],
            env={**os.environ, "FLYTE_HOME": str(home)},
            stdout=sink,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 0, proc.stderr
    peak = [line for line in proc.stderr.splitlines() if line.startswith("PEAK_KIB")]
    return int(peak[-1].split()[1]) / 1024.0, out.stat().st_size


def _store(home: Path) -> SqliteRunStore:
    store = SqliteRunStore(home / "runs.db")
    now = time.time()
    store.write(
        [("run_insert", {"name": "big", "task": "t.main", "phase": "SUCCEEDED",
                         "created_at": now, "started_at": now, "ended_at": now + 1})]
    )  # fmt: skip
    return store


def test_logs_of_a_huge_run_stream_in_bounded_memory(tmp_path: Path) -> None:
    store = _store(tmp_path)
    line = "x" * 9_999
    lines = DATA_MB * 100  # 100 lines of 10 KB per MB
    conn = store._conn()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO logs (run, action, attempt, ts, stream, line) "
        "VALUES ('big', 'a0', 1, 1.0, 'stdout', ?)",
        ((f"{i:08d}{line}",) for i in range(lines)),
    )
    conn.execute("COMMIT")
    store.close()
    peak, printed = _peak_mib(["logs", "big"], tmp_path)
    assert printed > DATA_MB * 1_000_000  # every line printed, in full
    assert peak < BOUND_MIB, f"flyte logs peaked at {peak:.0f} MiB"


def test_get_actions_json_of_a_huge_run_streams_in_bounded_memory(tmp_path: Path) -> None:
    store = _store(tmp_path)
    count = DATA_MB * 200  # inputs of 5 KB each
    value = json.dumps({"text": "y" * 5_000})
    conn = store._conn()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO actions (run, id, parent, name, kind, phase, inputs_json, started_at, "
        "ended_at, seq) VALUES ('big', ?, 'a0', 't.leaf', 'task', 'SUCCEEDED', ?, 1.0, 2.0, ?)",
        ((f"{i:012x}", value, i) for i in range(count)),
    )
    conn.execute("COMMIT")
    store.close()
    peak, printed = _peak_mib(["get", "actions", "big", "--json"], tmp_path)
    assert printed > DATA_MB * 1_000_000
    assert peak < BOUND_MIB, f"flyte get actions --json peaked at {peak:.0f} MiB"
    with (tmp_path / "out.txt").open() as out:  # one JSON array of every action
        actions = json.load(out)
    assert len(actions) == count and actions[-1]["inputs"] == {"text": "y" * 5_000}


def test_the_benchmark_harness_measures_the_commands_own_peak(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from _harness import clean_env, spawn_timed
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    ballast = bytearray(150 * 1024 * 1024)  # this process: far bigger than the command
    ballast[::4096] = b"1" * len(range(0, len(ballast), 4096))
    elapsed, peak, out = spawn_timed(
        [sys.executable, "-c", "print('hi')"], env=clean_env(), cwd=tmp_path
    )
    del ballast
    assert out == "hi\n" and elapsed > 0
    assert peak < 60, f"a bare interpreter measured {peak:.0f} MiB: the suite's size leaked in"
