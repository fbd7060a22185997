"""Scale (issue 13, item 9): a 100,000-task fan-out, `get runs` over a million actions,
`logs` and `get actions --json` of big runs, each beside its plain anchor.

Run alone: `python benchmarks/run_all.py --only fanout_100k,get_runs_1m,logs_50mb,actions_json_100k`
(and `tui_idle_cpu`: the dashboard left alone on a big run that is still running).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import sys
import time
from pathlib import Path

from _harness import Row, clean_env, median, spawn_timed, write_script
from bench_engine import _BIG_SCRIPT

__all__ = ["actions_json_100k", "fanout_100k", "get_runs_1m", "logs_50mb", "tui_idle_cpu"]

FANOUT_N = 100_000
RUNS = 200
ACTIONS = 1_000_000
LOG_MB = 50
ACTIONS_JSON_N = 100_000


def fanout_100k(reps: int, workdir: Path) -> list[Row]:
    """A 100,000-task durable fan-out in a fresh process, beside plain asyncio.gather."""
    script = write_script(workdir, "fanout_100k.py", _BIG_SCRIPT)
    walls: dict[str, list[float]] = {"flyte": [], "plain": []}
    rss: dict[str, list[float]] = {"flyte": [], "plain": []}
    for rep in range(reps):
        for mode in ("flyte", "plain"):
            home = workdir / f"home-{mode}-{rep}"
            home.mkdir(parents=True)
            _, _, out = spawn_timed(
                [sys.executable, str(script), mode, str(FANOUT_N)],
                env=clean_env(FLYTE_HOME=str(home)),
                cwd=workdir,
                timeout=300,
            )
            data = json.loads(out.strip().splitlines()[-1])
            walls[mode].append(data["wall"])
            rss[mode].append(data["rss_mib"])
    return [
        Row(
            name="fanout_100k",
            title="fan-out 100,000 async tasks, SQLite, fresh process",
            unit="s",
            value=median(walls["flyte"]),
            baseline=median(walls["plain"]),
            baseline_label="asyncio.gather",
            target=3.0,
            n=reps,
            rss_mib=median(rss["flyte"]),
            rss_target_mib=150.0,
            baseline_rss_mib=median(rss["plain"]),
            note=f"{median(walls['flyte']) / FANOUT_N * 1e6:.0f} µs/task",
        )
    ]


def _big_store(workdir: Path, runs: int, actions: int) -> Path:
    """A real store (made by SqliteRunStore, so migrations apply) with `actions` actions
    spread over `runs` runs, inserted in bulk (so the run rows' counts, which the store's
    writer keeps, are set here)."""
    from flyte._store.sqlite import SqliteRunStore

    db = workdir / "big" / "runs.db"
    store = SqliteRunStore(db)
    per = actions // runs
    now = time.time()
    conn = store._conn()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO runs (name, task, phase, created_at, started_at, ended_at) "
        "VALUES (?, 'bench.main', 'SUCCEEDED', ?, ?, ?)",
        [(f"run-{r:04d}", now + r, now + r, now + r + 1) for r in range(runs)],
    )
    conn.executemany(
        "INSERT INTO actions (run, id, parent, name, kind, phase, inputs_json, started_at, "
        "ended_at, seq) VALUES (?, ?, 'a0', 'bench.leaf', 'task', 'SUCCEEDED', '{\"i\": 1}', "
        "?, ?, ?)",
        ((f"run-{r:04d}", f"{i:012x}", now, now, i) for r in range(runs) for i in range(per)),
    )
    conn.execute("UPDATE runs SET action_count = ?", (per,))
    conn.execute("COMMIT")
    store.close()
    return db


def get_runs_1m(reps: int, workdir: Path) -> list[Row]:
    """`get runs` (the newest 50 runs with their counts) on a store of 1,000,000 actions."""
    from flyte._store.sqlite import SqliteRunStore

    db = _big_store(workdir, RUNS, ACTIONS)
    store = SqliteRunStore(db)
    ours, plain = [], []
    raw = sqlite3.connect(db)
    for _ in range(reps):
        start = time.perf_counter()
        found = store.list_runs(limit=50)
        ours.append(time.perf_counter() - start)
        assert len(found) == 50 and found[0].action_count == ACTIONS // RUNS
        start = time.perf_counter()
        raw.execute("SELECT * FROM runs ORDER BY created_at DESC LIMIT 50").fetchall()
        plain.append(time.perf_counter() - start)
    elapsed, _, _ = spawn_timed(
        [sys.executable, "-m", "flyte_cli", "--store", str(db), "get", "runs", "--json"],
        env=clean_env(FLYTE_HOME=str(workdir / "home")),
        timeout=120,
    )
    return [
        Row(
            name="get_runs_1m",
            title=f"get runs over {ACTIONS:,} actions ({RUNS} runs)",
            unit="s",
            value=median(ours),
            baseline=median(plain),
            baseline_label="plain SELECT of the runs",
            target=0.2,
            n=reps,
            note=f"whole `flyte get runs --json` process {elapsed:.2f} s",
        )
    ]


_LOGS_SCRIPT = r"""
import json, resource, sys
import flyte
from flyte._store.sqlite import SqliteRunStore

mode, db, mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "write":
    flyte.init(store=SqliteRunStore(db))
    env = flyte.TaskEnvironment("bench_logs")

    @env.task
    def chatty(mb: int) -> int:
        line = "x" * 99
        for i in range(mb * 10_000):
            print(line)
        return mb

    run = flyte.with_runcontext(echo=False, name="chatty").run(chatty, mb)
    print(json.dumps({"run": run.name}))
"""


def logs_50mb(reps: int, workdir: Path) -> list[Row]:
    """`flyte logs` of a run that printed 50 MB: peak memory of the CLI process."""
    script = write_script(workdir, "logs_50mb.py", _LOGS_SCRIPT)
    db = workdir / "logs" / "runs.db"
    db.parent.mkdir(parents=True)
    env = clean_env(FLYTE_HOME=str(workdir / "home"))
    spawn_timed([sys.executable, str(script), "write", str(db), str(LOG_MB)], env=env, timeout=600)
    walls, rss = [], []
    for _ in range(reps):
        elapsed, peak, _ = spawn_timed(
            [sys.executable, "-m", "flyte_cli", "--store", str(db), "logs", "chatty"],
            env=env,
            timeout=300,
        )
        walls.append(elapsed)
        rss.append(peak)
    anchor, anchor_rss, _ = spawn_timed(
        [sys.executable, "-c", f"import sqlite3\nfor r in sqlite3.connect({str(db)!r}).execute("
         "'SELECT line FROM logs ORDER BY seq'): print(r[0])"],
        env=env, timeout=300,
    )  # fmt: skip
    return [
        Row(
            name="logs_50mb",
            title=f"flyte logs of {LOG_MB} MB of output",
            unit="s",
            value=median(walls),
            baseline=anchor,
            baseline_label="sqlite3 cursor printing the lines",
            n=reps,
            rss_mib=median(rss),
            rss_target_mib=100.0,
            baseline_rss_mib=anchor_rss,
        )
    ]


def actions_json_100k(reps: int, workdir: Path) -> list[Row]:
    """`flyte get actions RUN --json` of a 100,000-action run: time and peak memory."""
    db = _big_store(workdir, 1, ACTIONS_JSON_N)
    env = clean_env(FLYTE_HOME=str(workdir / "home"))
    walls, rss = [], []
    for _ in range(reps):
        elapsed, peak, _ = spawn_timed(
            [sys.executable, "-m", "flyte_cli", "--store", str(db), "get", "actions",
             "run-0000", "--json"],
            env=env, timeout=300,
        )  # fmt: skip
        walls.append(elapsed)
        rss.append(peak)
    anchor, anchor_rss, _ = spawn_timed(
        [sys.executable, "-c", "import json, sqlite3\nc = sqlite3.connect("
         f"{str(db)!r})\nc.row_factory = sqlite3.Row\nfor r in c.execute('SELECT * FROM "
         "actions'): print(json.dumps(dict(r)))"],
        env=env, timeout=300,
    )  # fmt: skip
    return [
        Row(
            name="actions_json_100k",
            title=f"get actions --json of a {ACTIONS_JSON_N:,}-action run",
            unit="s",
            value=median(walls),
            baseline=anchor,
            baseline_label="sqlite3 rows to JSON lines",
            n=reps,
            rss_mib=median(rss),
            rss_target_mib=100.0,
            baseline_rss_mib=anchor_rss,
        )
    ]


TUI_N = 5_000
TUI_RUNNING = 500
TUI_WARMUP_S = 2.0
TUI_WINDOW_S = 6.0

_TUI_RUN = r"""
import asyncio, os, sys
import flyte

n, running, stop = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
env = flyte.TaskEnvironment("bench_tui")

@env.task
async def leaf(i: int, wait: bool) -> int:
    while wait and not os.path.exists(stop):
        await asyncio.sleep(0.2)
    return i

@env.task
async def main(n: int, running: int) -> int:
    return len(await asyncio.gather(*(leaf(i, i >= n - running) for i in range(n))))

flyte.with_runcontext(echo=False, name="big-active").run(main, n, running)
"""

_TUI_BUSY = r"""
import asyncio, sys
import flyte

n = int(sys.argv[1])
env = flyte.TaskEnvironment("bench_tui_busy")

@env.task
async def leaf(i: int) -> int:
    await asyncio.sleep(5 + (i * 7919 % n) / n * 100)  # ends spread over 100 s
    return i

@env.task
async def main(n: int) -> int:
    return len(await asyncio.gather(*(leaf(i) for i in range(n))))

flyte.with_runcontext(echo=False, name="busy").run(main, n)
"""

_EMPTY_APP = r"""
from textual.app import App
from textual.widgets import Footer, Static

class Empty(App[None]):
    def compose(self):
        yield Static("an empty Textual app")
        yield Footer()

Empty().run()
"""


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _idle_cpu(cmd: list[str], env: dict[str, str], ready: str) -> float:
    """Percent of a core `cmd` uses in a 120x40 pseudo-terminal while nobody types, from
    TUI_WARMUP_S after `ready` first shows on its screen (what the terminal receives is
    read and dropped, as a terminal would)."""
    import fcntl
    import pty
    import struct
    import subprocess
    import termios
    import threading

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(
        cmd,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**env, "TERM": "xterm-256color"},
        start_new_session=True,
    )
    os.close(slave)
    shown = threading.Event()
    marker = ready.encode()

    def drain() -> None:
        tail = b""
        with contextlib.suppress(OSError):
            while chunk := os.read(master, 65536):
                if not shown.is_set():
                    tail = (tail + chunk)[-(len(chunk) + len(marker)) :]
                    if marker in tail:
                        shown.set()

    threading.Thread(target=drain, daemon=True).start()
    try:
        # Loading a big run takes a while on a busy machine: the window starts once the
        # run is on screen, not at a fixed time after the start.
        if not shown.wait(120) or proc.poll() is not None:
            raise RuntimeError(f"{' '.join(cmd)} did not show {ready!r} within 120 s")
        time.sleep(TUI_WARMUP_S)
        cpu, start = _cpu_seconds(proc.pid), time.monotonic()
        time.sleep(TUI_WINDOW_S)
        cpu, wall = _cpu_seconds(proc.pid) - cpu, time.monotonic() - start
    finally:
        proc.kill()
        proc.wait()
        os.close(master)
    return 100.0 * cpu / wall


def tui_idle_cpu(reps: int, workdir: Path) -> list[Row]:
    """`flyte tui` left alone on a 5,000-action run that is still running: CPU it uses."""
    import subprocess

    script = write_script(workdir, "tui_run.py", _TUI_RUN)
    empty = write_script(workdir, "empty_app.py", _EMPTY_APP)
    home = workdir / "tui-home"
    home.mkdir()
    env = clean_env(FLYTE_HOME=str(home))
    stop = workdir / "STOP"
    driver = subprocess.Popen(
        [sys.executable, str(script), str(TUI_N), str(TUI_RUNNING), str(stop)],
        env=env,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    flyte = [sys.executable, "-m", "flyte_cli", "tui"]
    figures: dict[str, list[float]] = {"run": [], "runs": [], "empty": [], "busy": []}
    try:
        deadline = time.monotonic() + 120
        db = home / "runs.db"
        while True:  # until every action is recorded and the finished ones have ended
            if driver.poll() is not None:
                raise RuntimeError(f"the run's driver exited {driver.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("the big run did not reach its steady state in 120 s")
            time.sleep(0.5)
            if not db.exists():
                continue
            with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
                done = conn.execute(
                    "SELECT count(*) FROM actions WHERE run = 'big-active' AND phase = 'SUCCEEDED'"
                ).fetchone()[0]
            if done >= TUI_N - TUI_RUNNING:
                break
        for _ in range(reps):
            done = f"done {TUI_N - TUI_RUNNING}/{TUI_N + 1}"
            figures["run"].append(_idle_cpu([*flyte, "big-active"], env, done))
            figures["runs"].append(_idle_cpu(flyte, env, "big-active"))
            figures["empty"].append(_idle_cpu([sys.executable, str(empty)], env, "empty Textual"))
    finally:
        stop.touch()
        try:
            driver.wait(timeout=60)
        except subprocess.TimeoutExpired:
            driver.kill()
            driver.wait()
    # A busy run too: 5,000 actions ending about 50 a second.
    busy_home = workdir / "tui-busy"
    busy_home.mkdir()
    busy_env = clean_env(FLYTE_HOME=str(busy_home))
    busy = write_script(workdir, "tui_busy.py", _TUI_BUSY)
    for _ in range(reps):
        driver = subprocess.Popen(
            [sys.executable, str(busy), str(TUI_N)],
            env=busy_env,
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(5)  # started: its first actions end after 5 s
            figures["busy"].append(_idle_cpu([*flyte, "busy"], busy_env, "busy"))
        finally:
            driver.kill()
            driver.wait()
        (busy_home / "runs.db").unlink()
    return [
        Row(
            name="tui_idle_cpu",
            title=f"`flyte tui RUN` left alone, {TUI_N:,}-action run still running",
            unit="% of a core",
            value=median(figures["run"]),
            baseline=median(figures["empty"]),
            baseline_label="an empty Textual app",
            target=5.0,
            n=reps,
            note=f"the run list (`flyte tui`) over the same store: {median(figures['runs']):.1f}%"
            f" of a core; {TUI_RUNNING} actions running; measured over {TUI_WINDOW_S:.0f} s, "
            f"{TUI_WARMUP_S:.0f} s after the run shows, in a 120x40 pty",
        ),
        Row(
            name="tui_busy_cpu",
            title=f"`flyte tui RUN` left alone, {TUI_N:,}-action run ending ~50 actions/s",
            unit="% of a core",
            value=median(figures["busy"]),
            baseline=median(figures["empty"]),
            baseline_label="an empty Textual app",
            n=reps,
            note="no target: the tree, counts and logs change several times a second",
        ),
    ]
