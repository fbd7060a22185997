"""Whole-process workloads: `python hello.py` with one task, from spawn to exit.

Baselines are `python -c pass` (the interpreter alone) and a plain script doing the same
print. The store lives in the workload's FLYTE_HOME, created by an untimed first run, so
the target figure is the steady state; the note adds a run against a brand-new FLYTE_HOME.
"""

from __future__ import annotations

import sys
from pathlib import Path

from _harness import Row, clean_env, median, spawn_timed, write_script

__all__ = ["process_hello"]

HELLO = """\
import flyte

env = flyte.TaskEnvironment("hello_world")


@env.task
def main(name: str) -> str:
    return f"Hello, {name}!"


if __name__ == "__main__":
    flyte.init()
    run = flyte.run(main, name="World")
    print(run.outputs()[0])
"""

HELLO_PLAIN = """\
def main(name: str) -> str:
    return f"Hello, {name}!"


if __name__ == "__main__":
    print(main("World"))
"""

# The seed's sync program (DESIGN.md, "Pure Python execution"): 11 actions.
HELLO_SEED = """\
import flyte

env = flyte.TaskEnvironment("hello_world")


@env.task
def hello_world(name: str) -> str:
    return f"Hello, {name}!"


@env.task
def main(name: str) -> str:
    for i in range(10):
        hello_world(name)
    return "Done"


if __name__ == "__main__":
    flyte.init()
    run = flyte.run(main, name="World")
    print(run.outputs()[0])
"""


def process_hello(reps: int, workdir: Path) -> list[Row]:
    hello = write_script(workdir, "hello.py", HELLO)
    plain = write_script(workdir, "hello_plain.py", HELLO_PLAIN)
    seed = write_script(workdir, "hello_seed.py", HELLO_SEED)
    home = workdir / "home"
    home.mkdir()
    env = clean_env(FLYTE_HOME=str(home))
    py = sys.executable

    commands: dict[str, list[str]] = {
        "hello": [py, str(hello)],
        "plain": [py, str(plain)],
        "pass": [py, "-c", "pass"],
        "import": [py, "-c", "import flyte"],
        "seed": [py, str(seed)],
    }
    # Untimed first runs: create the store, compile flyte's bytecode.
    for key in ("hello", "seed"):
        out = spawn_timed(commands[key], env=env, cwd=workdir)[2]
        if key == "hello" and "Hello, World!" not in out:
            raise AssertionError(f"hello.py printed {out!r}")

    times: dict[str, list[float]] = {k: [] for k in [*commands, "fresh"]}
    rss: dict[str, list[float]] = {k: [] for k in times}
    keys = list(commands)
    for rep in range(reps):
        # Rotate the order each repetition, so no command always follows the same one.
        for key in keys[rep % len(keys) :] + keys[: rep % len(keys)]:
            elapsed, peak, _ = spawn_timed(commands[key], env=env, cwd=workdir)
            times[key].append(elapsed)
            rss[key].append(peak)
        fresh_home = workdir / f"fresh-{rep}"
        fresh_home.mkdir()
        elapsed, peak, _ = spawn_timed(
            commands["hello"], env=clean_env(FLYTE_HOME=str(fresh_home)), cwd=workdir
        )
        times["fresh"].append(elapsed)
        rss["fresh"].append(peak)

    med = {k: median(v) for k, v in times.items()}
    mem = {k: median(v) for k, v in rss.items()}
    return [
        Row(
            name="process_hello",
            title="`python hello.py`, one task, whole process",
            unit="s",
            value=med["hello"],
            baseline=med["plain"],
            target=0.20,
            n=reps,
            rss_mib=mem["hello"],
            baseline_rss_mib=mem["plain"],
            note=(
                f"`python -c pass` {med['pass']:.3f} s; `python -c 'import flyte'` "
                f"{med['import']:.3f} s ({mem['import']:.0f} MiB); against a brand-new "
                f"FLYTE_HOME (store created) {med['fresh']:.3f} s"
            ),
        ),
        Row(
            name="process_seed",
            title="`python hello.py`, seed program (10 calls, 11 actions)",
            unit="s",
            value=med["seed"],
            baseline=med["plain"],
            n=reps,
            rss_mib=mem["seed"],
            baseline_rss_mib=mem["plain"],
        ),
    ]
