"""Completing a run name: `flyte logs <TAB>` over a store with runs, as a fresh process.

Completion reads the store through `flyte.store` (the public read API) instead of raw SQL
since issue 15. The anchor is what it did before, in the same run: a fresh interpreter
that opens `runs.db` read-only with `sqlite3` and lists the names.
"""

from __future__ import annotations

import sys
from pathlib import Path

from _harness import Row, clean_env, flyte_executable, median, spawn_timed

__all__ = ["completion"]

TARGET_S = 0.10  # DESIGN.md 10: "a completion call"
RUNS = 50

_RAW_SQL = """
import sqlite3, sys
conn = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=0.5)
rows = conn.execute("SELECT name, task, phase FROM runs ORDER BY created_at DESC LIMIT 100")
print("\\n".join(r[0] for r in rows))
"""

_SEED = """
import flyte
env = flyte.TaskEnvironment("bench")

@env.task
def one(i: int) -> int:
    return i

for i in range({runs}):
    flyte.run(one, i)
"""


def completion(reps: int, workdir: Path) -> list[Row]:
    flyte = flyte_executable()
    if not flyte.exists():
        return [
            Row(
                name="complete_run_name",
                title="bash completion `flyte logs <TAB>` (run names), whole process",
                unit="s",
                target=TARGET_S,
                skipped=True,
                note=f"{flyte} is not installed (run `make install`)",
            )
        ]
    home = workdir / "home"
    home.mkdir()
    env = clean_env(FLYTE_HOME=str(home))
    seed = workdir / "seed.py"
    seed.write_text(_SEED.format(runs=RUNS))
    spawn_timed([sys.executable, str(seed)], env=env, cwd=workdir, timeout=120)
    db = home / "runs.db"
    complete_env = clean_env(
        FLYTE_HOME=str(home),
        _FLYTE_COMPLETE="complete_bash",
        COMP_WORDS="flyte logs ",
        COMP_CWORD="2",
    )
    commands = {
        "flyte": ([str(flyte)], complete_env),
        "raw": ([sys.executable, "-c", _RAW_SQL, str(db)], env),
    }
    offered = spawn_timed(commands["flyte"][0], env=complete_env, cwd=workdir)[2].split()
    raw_out = spawn_timed(commands["raw"][0], env=env, cwd=workdir)[2].split()
    if len(offered) != RUNS or sorted(offered) != sorted(raw_out):
        raise AssertionError(f"completion offered {len(offered)} names, expected {RUNS}")
    times: dict[str, list[float]] = {k: [] for k in commands}
    rss: dict[str, list[float]] = {k: [] for k in commands}
    keys = list(commands)
    for rep in range(reps):
        for key in keys[rep % 2 :] + keys[: rep % 2]:
            cmd, cmd_env = commands[key]
            elapsed, peak, _ = spawn_timed(cmd, env=cmd_env, cwd=workdir)
            times[key].append(elapsed)
            rss[key].append(peak)
    return [
        Row(
            name="complete_run_name",
            title=f"bash completion `flyte logs <TAB>` ({RUNS} runs), whole process",
            unit="s",
            value=median(times["flyte"]),
            baseline=median(times["raw"]),
            baseline_label="python + raw sqlite3 query",
            target=TARGET_S,
            n=reps,
            rss_mib=median(rss["flyte"]),
            baseline_rss_mib=median(rss["raw"]),
            note=f"offered {len(offered)} run names",
        )
    ]
