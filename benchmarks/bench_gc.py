"""gc of a big store while a run keeps writing: how long it takes, how long the writer waits.

The store (1,000 runs / 1M actions, one attempt each, 200k log lines, all 40 days old) is
built directly with executemany, not by running a million tasks. A writer process stands
in for a run in progress: it records a small batch (a run, 20 actions, 20 log lines) every
few milliseconds through `SqliteRunStore.write` and times each write, lock wait included.
Its longest write during gc is the "stall" a concurrent run sees.

The anchor is the obvious implementation measured on a copy of the same store with the
same writer: one transaction that deletes every old row (`DELETE ... WHERE run IN (...)`).

Usage:
    python benchmarks/bench_gc.py            # prints the rows
    python benchmarks/run_all.py --only gc
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _harness import REPO, Row

__all__ = ["gc_big_store"]

RUNS = 1000
ACTIONS_PER_RUN = 1000
LOGS_PER_RUN = 200
DAY = 86400.0

_WRITER = r"""
import json, os, sys, time
from flyte._store.sqlite import SqliteRunStore

path, ready, stop, out = sys.argv[1:5]
store = SqliteRunStore(path)
conn = store._conn()
writes, errors, k = [], [], 0
open(ready, "w").close()
while not os.path.exists(stop):
    name = f"live-{k}"
    now = time.time()
    ops = [("run_insert", {"name": name, "task": "live.main", "phase": "SUCCEEDED",
                           "created_at": now, "started_at": now, "ended_at": now})]
    for i in range(20):
        aid = "a0" if i == 0 else f"{i:012x}"
        ops.append(("action_insert", {"run": name, "id": aid, "parent": None if i == 0 else "a0",
                                      "name": "live.task", "phase": "SUCCEEDED", "seq": i}))
        ops.append(("log", {"run": name, "action": aid, "attempt": 1, "ts": now,
                            "stream": "stdout", "line": f"line {i}"}))
    # SqliteRunStore.write, timed in two parts: the wait for the write lock (what another
    # writer such as gc can cause) and the whole write (which also includes this
    # connection's own automatic checkpoints and the machine's scheduling noise).
    t0 = time.perf_counter()
    try:
        conn.execute("BEGIN IMMEDIATE")
        locked = time.perf_counter()
        store._apply(conn, ops)
        conn.execute("UPDATE changes SET counter = counter + 1 WHERE id = 1")
        conn.execute("COMMIT")
    except Exception as exc:
        errors.append(repr(exc))
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        locked = time.perf_counter()
    writes.append((now, locked - t0, time.perf_counter() - t0))
    k += 1
    time.sleep(0.003)
with open(out, "w") as f:
    json.dump({"writes": writes, "errors": errors, "written": k}, f)
"""


def build_store(path: Path) -> None:
    """1,000 runs of 1,000 actions (one attempt each) and 200 log lines, 40 days old."""
    from flyte._store.sqlite import SqliteRunStore

    store = SqliteRunStore(path)
    conn = store._conn()
    old = time.time() - 40 * DAY
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO runs (name, task, phase, created_at, started_at, ended_at, inputs_json) "
        "VALUES (?, 'big.main', 'SUCCEEDED', ?, ?, ?, '{}')",
        ((f"old-{r}", old + r, old + r, old + r + 1) for r in range(RUNS)),
    )
    conn.executemany(
        "INSERT INTO actions (run, id, parent, name, kind, phase, attempts, cache_status, "
        "inputs_hash, inputs_json, outputs_json, outputs_blob, started_at, ended_at, settings, seq) "
        "VALUES (?, ?, ?, 'big.task', 'task', 'SUCCEEDED', 1, 'disabled', ?, ?, ?, ?, ?, ?, "
        "'{}', ?)",
        (
            (
                f"old-{r}",
                "a0" if i == 0 else f"{i:012x}",
                None if i == 0 else "a0",
                f"{r:08x}{i:024x}",
                f'{{"i": {i}}}',
                str(i * i),
                b"\x80\x05\x95" + i.to_bytes(4, "little") * 4,
                old + r,
                old + r + 0.5,
                i,
            )
            for r in range(RUNS)
            for i in range(ACTIONS_PER_RUN)
        ),
    )
    conn.executemany(
        "INSERT INTO attempts (run, action, attempt, phase, started_at, ended_at) "
        "VALUES (?, ?, 1, 'SUCCEEDED', ?, ?)",
        (
            (f"old-{r}", "a0" if i == 0 else f"{i:012x}", old + r, old + r + 0.5)
            for r in range(RUNS)
            for i in range(ACTIONS_PER_RUN)
        ),
    )
    conn.executemany(
        "INSERT INTO logs (run, action, attempt, ts, stream, line) "
        "VALUES (?, 'a0', 1, ?, 'stdout', ?)",
        (
            (f"old-{r}", old + r, f"processing item {j} of run {r}: ok")
            for r in range(RUNS)
            for j in range(LOGS_PER_RUN)
        ),
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()


class Writer:
    """The writer process standing in for a run in progress."""

    def __init__(self, path: Path, workdir: Path, tag: str) -> None:
        self.ready = workdir / f"ready-{tag}"
        self.stop = workdir / f"stop-{tag}"
        self.out = workdir / f"out-{tag}.json"
        for f in (self.ready, self.stop, self.out):
            f.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WRITER,
                str(path),
                str(self.ready),
                str(self.stop),
                str(self.out),
            ],
            cwd=REPO,
        )
        deadline = time.monotonic() + 60
        while not self.ready.exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("the writer process did not start")
            time.sleep(0.01)
        self.started = time.time()
        time.sleep(2.0)  # its writes alone: the idle baseline

    def finish(self) -> dict[str, Any]:
        self.stop.touch()
        self.proc.wait(timeout=120)
        data: dict[str, Any] = json.loads(self.out.read_text())
        return data


def _window(data: dict[str, Any], start: float, end: float) -> dict[str, float]:
    """Lock-wait and whole-write figures (ms) of the writes that began in [start, end]."""
    inside = [(w, t) for at, w, t in data["writes"] if start <= at <= end]
    if not inside:
        return {
            "n": 0,
            "max_wait": 0.0,
            "p99_wait": 0.0,
            "over_100": 0,
            "max_write": 0.0,
            "p99_write": 0.0,
        }
    waits = sorted(w for w, _ in inside)
    totals = sorted(t for _, t in inside)
    p99 = int(len(inside) * 0.99)
    return {
        "n": len(inside),
        "max_wait": waits[-1] * 1000,
        "p99_wait": waits[p99] * 1000,
        "over_100": sum(1 for w in waits if w > 0.1),
        "max_write": totals[-1] * 1000,
        "p99_write": totals[p99] * 1000,
    }


def _size(path: Path) -> int:
    return sum(os.path.getsize(f"{path}{s}") for s in ("", "-wal") if os.path.exists(f"{path}{s}"))


def _naive_gc(path: Path) -> float:
    """The anchor: every old row in one transaction (what a one-statement gc would do)."""
    from flyte._store.sqlite import SqliteRunStore

    store = SqliteRunStore(path)
    conn = store._conn()
    t0 = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    for table in ("logs", "attempts", "actions"):
        conn.execute(
            f"DELETE FROM {table} WHERE run IN (SELECT name FROM runs WHERE created_at < ?)",
            (time.time() - 30 * DAY,),
        )
    conn.execute("DELETE FROM runs WHERE created_at < ?", (time.time() - 30 * DAY,))
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    store.close()
    return elapsed


def gc_big_store(reps: int, workdir: Path) -> list[Row]:
    from flyte._store.sqlite import SqliteRunStore
    from flyte._store.stats import check
    from flyte._store.upkeep import GcPolicy, gc

    path = workdir / "big.db"
    anchor_path = workdir / "anchor.db"
    t0 = time.perf_counter()
    build_store(path)
    built = time.perf_counter() - t0
    shutil.copyfile(path, anchor_path)
    size_before = _size(path)

    # flyte gc, with the writer running.
    writer = Writer(path, workdir, "gc")
    store = SqliteRunStore(path)
    gc_start = time.time()
    report = gc(store, GcPolicy(older_than=30 * DAY))
    gc_end = time.time()
    during_gc = writer.finish()
    sound = check(store, integrity=False).ok
    store.close()
    rows_deleted = sum(report.rows.values()) + len(report.runs)
    idle = _window(during_gc, writer.started, gc_start)
    busy = _window(during_gc, gc_start, gc_end)

    # The anchor: one big transaction, same writer.
    writer = Writer(anchor_path, workdir, "anchor")
    naive_start = time.time()
    naive_seconds = _naive_gc(anchor_path)
    naive_end = time.time()
    during_naive = writer.finish()
    naive = _window(during_naive, naive_start, naive_end + 5)

    errors = during_gc["errors"] + during_naive["errors"]
    common = {
        "store": f"{RUNS:,} runs / {RUNS * ACTIONS_PER_RUN:,} actions, built in {built:.1f} s",
        "rows_deleted": rows_deleted,
        "size_before_mb": round(size_before / 1e6, 1),
        "size_after_mb": round((report.size_after or 0) / 1e6, 1),
        "transactions": report.transactions,
        "longest_gc_transaction_ms": round(report.max_transaction * 1000, 1),
        "writer_idle_ms": {k: round(v, 1) for k, v in idle.items()},
        "writer_during_gc_ms": {k: round(v, 1) for k, v in busy.items()},
        "writer_during_anchor_ms": {k: round(v, 1) for k, v in naive.items()},
        "writer_errors": errors,
        "store_sound_after": sound,
        "load_average": os.getloadavg(),
    }
    return [
        Row(
            name="gc_time",
            title="gc of 1,000 runs / 1M actions (+ attempts, logs, vacuum), a run writing",
            unit="s",
            value=report.seconds,
            baseline=naive_seconds,
            baseline_label="one DELETE transaction",
            n=1,
            note=f"{rows_deleted / report.seconds:,.0f} rows/s; file "
            f"{size_before / 1e6:.0f} MB -> {(report.size_after or 0) / 1e6:.0f} MB; "
            f"{report.transactions} transactions",
            extra=common,
        ),
        Row(
            name="gc_stall",
            title="longest wait of a concurrent run for the write lock during that gc",
            unit="ms",
            value=busy["max_wait"],
            baseline=naive["max_wait"],
            baseline_label="during one DELETE transaction",
            target=100.0,
            n=int(busy["n"]),
            note=f"p99 {busy['p99_wait']:.1f} ms, {busy['over_100']:.0f} waits over 100 ms; "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; whole writes: max {busy['max_write']:.0f} ms "
            f"(same writer with no gc: max {idle['max_write']:.0f} ms); "
            f"writer errors: {len(errors)}",
            extra=common,
        ),
    ]


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="flyte-bench-gc-") as tmp:
        os.environ["FLYTE_HOME"] = tmp
        rows = gc_big_store(1, Path(tmp))
    for row in rows:
        baseline = "-" if row.baseline is None else f"{row.baseline:.3f} {row.unit}"
        print(
            f"{row.title}: {row.value:.3f} {row.unit} | {row.baseline_label}: {baseline} | "
            f"target: {row.target} | {row.status} | {row.note}"
        )
    print(json.dumps(rows[0].extra, indent=2))
    return 0 if all(r.status in ("PASS", "info") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
