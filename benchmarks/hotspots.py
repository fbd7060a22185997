"""Profile one benchmark workload with cProfile, across the engine's threads.

Usage:
    python benchmarks/hotspots.py fanout_memory [--runs 10] [--top 25]
    python benchmarks/hotspots.py process_hello

Workloads: fanout_memory, fanout_durable, chain_durable, cache_hits,
cache_hits_other_process, recovery, workers_fanout, workers_round_trip (the driver's
side of bench_workers' warm workers), process_hello.

The engine runs task bodies on its own event-loop thread and writes the store from a
writer thread, so profiling only the caller's thread misses most of the work: this script
profiles every thread (the main thread, `flyte-controller`, `flyte-store-writer`, task
workers), merges the statistics, and prints self time by function with its share of all
non-idle time. Waiting (epoll, locks, condition variables) is reported apart. Not part of
`make bench`; a tool for whoever optimises the engine.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

# Builtins whose self time is waiting, not work (substrings of pstats' names).
_IDLE = (
    "'poll' of 'select.epoll'",
    "'acquire' of '_thread.",
    "time.sleep",
    "'control' of 'select.kqueue'",
)

_profiles: list[tuple[str, cProfile.Profile]] = []
_original_run = threading.Thread.run


def _profiled_run(self: threading.Thread) -> None:
    profile = cProfile.Profile()
    self._bench_profile = profile  # type: ignore[attr-defined]
    _profiles.append((_group(self.name), profile))
    profile.enable()
    try:
        _original_run(self)
    finally:
        profile.disable()


def _group(thread_name: str) -> str:
    for prefix in ("flyte-controller", "flyte-store-writer", "flyte-task"):
        if thread_name.startswith(prefix):
            return prefix
    return "other threads"


def _stop_thread_profiles() -> None:
    """Disable each still-running thread's profiler from inside that thread."""
    from flyte._controller.local import get_controller

    controller = get_controller()
    loop_thread = controller._loop_thread
    if loop_thread is not None:
        done = threading.Event()

        def stop() -> None:
            profile = getattr(loop_thread, "_bench_profile", None)
            if profile is not None:
                profile.disable()
            done.set()

        controller.loop.call_soon_threadsafe(stop)
        done.wait(5)
    for thread in threading.enumerate():  # idle writer threads exit after ~2 s
        if thread.name.startswith("flyte-store-writer"):
            thread.join(5)


def _workload(name: str, workdir: Path) -> Any:
    """A callable doing one flyte repetition of `name` (after its one-time setup)."""
    import flyte

    if name in ("fanout_memory", "fanout_durable", "chain_durable"):
        import bench_engine

        store = bench_engine._store("memory" if name == "fanout_memory" else "sqlite", workdir)
        flyte.init(store=store)
        task, n = (
            (bench_engine.chain, bench_engine.CHAIN_N)
            if name == "chain_durable"
            else (bench_engine.fanout, bench_engine.FANOUT_N)
        )
        return lambda: flyte.with_runcontext(echo=False).run(task, n)
    if name == "cache_hits":
        import bench_cache

        flyte.init(store=bench_cache._store(workdir))
        bench_cache._run(bench_cache.cached_fanout, bench_cache.HITS_N)  # fill
        return lambda: bench_cache._run(bench_cache.cached_fanout, bench_cache.HITS_N)
    if name == "cache_hits_other_process":
        import bench_cache

        db = workdir / "runs-shared.db"
        fill = bench_cache._FILL_SCRIPT.format(
            bench_dir=str(Path(__file__).resolve().parent), db=str(db), n=bench_cache.HITS_N
        )
        subprocess.run([sys.executable, "-c", fill], check=True, capture_output=True)
        flyte.init(store=bench_cache._store_at(db))
        return lambda: bench_cache._run(bench_cache.cached_fanout, bench_cache.HITS_N)
    if name == "recovery":
        import bench_cache

        flyte.init(store=bench_cache._store(workdir))
        bench_cache._FAIL_LAST["on"] = True
        failed = bench_cache._run(
            bench_cache.recover_fanout, bench_cache.RECOVER_N, raise_on_failure=False
        )
        bench_cache._FAIL_LAST["on"] = False
        return lambda: bench_cache._run(
            bench_cache.recover_fanout, bench_cache.RECOVER_N, recover_from=failed.name
        )
    if name in ("workers_fanout", "workers_round_trip"):
        import bench_workers

        from flyte._store.sqlite import SqliteRunStore

        flyte.init(store=SqliteRunStore(workdir / "runs.db"))
        task, n = (
            (bench_workers.warm_fanout, bench_workers.FANOUT_N)
            if name == "workers_fanout"
            else (bench_workers.warm_chain, bench_workers.ROUND_N)
        )
        return lambda: flyte.with_runcontext(echo=False).run(task, n)
    raise SystemExit(f"no in-process profile for {name!r}")


def _cumulative(stats: pstats.Stats, top: int) -> None:
    """flyte/ functions by cumulative time, as a share of the thread's busy time."""
    entries = stats.stats  # type: ignore[attr-defined]
    busy = sum(
        tt
        for (filename, _, func), (_, _, tt, _, _) in entries.items()
        if not (filename == "~" and any(marker in func for marker in _IDLE))
    )
    rows = sorted(
        (
            (ct, nc, _label(filename, line, func))
            for (filename, line, func), (_, nc, _, ct, _) in entries.items()
            if "/flyte/" in filename
        ),
        reverse=True,
    )
    print(f"{'cum %':>7} {'cum s':>8} {'calls':>9}  flyte/ function (cumulative, incl. callees)")
    for ct, nc, label in rows[:top]:
        print(f"{ct / (busy or 1.0):7.1%} {ct:8.3f} {nc:9d}  {label}")


def _report(stats: pstats.Stats, top: int, only_flyte: bool) -> None:
    entries = stats.stats  # type: ignore[attr-defined]
    rows = []
    idle = 0.0
    for (filename, line, func), (_cc, ncalls, tottime, cumtime, _callers) in entries.items():
        label = _label(filename, line, func)
        if filename == "~" and any(marker in func for marker in _IDLE):
            idle += tottime
            continue
        rows.append((tottime, cumtime, ncalls, label, filename))
    busy = sum(r[0] for r in rows) or 1.0
    print(f"non-idle self time {busy:.3f} s (idle/waiting {idle:.3f} s excluded)\n")
    print(f"{'self %':>7} {'self s':>8} {'cum s':>8} {'calls':>9}  function")
    shown = 0
    for tottime, cumtime, ncalls, label, filename in sorted(rows, reverse=True):
        if only_flyte and "/flyte/" not in filename:
            continue
        print(f"{tottime / busy:7.1%} {tottime:8.3f} {cumtime:8.3f} {ncalls:9d}  {label}")
        shown += 1
        if shown >= top:
            break
    flyte_self = sum(r[0] for r in rows if "/flyte/" in r[4])
    print(f"\nself time in flyte/ code: {flyte_self / busy:.1%} of non-idle time")


def _label(filename: str, line: int, func: str) -> str:
    if filename == "~":
        return func
    parts = Path(filename).parts
    start = parts.index("flyte") if "flyte" in parts else len(parts) - 2
    return f"{'/'.join(parts[start:])}:{line}:{func}"


def _profile_in_process(name: str, runs: int, top: int) -> None:
    threading.Thread.run = _profiled_run  # type: ignore[method-assign]
    workdir = Path(tempfile.mkdtemp(prefix="flyte-hotspots-"))
    os.environ["FLYTE_HOME"] = str(workdir)
    once = _workload(name, workdir)
    once()  # warm-up, not profiled in the main thread (threads are)
    main = cProfile.Profile()
    start = time.perf_counter()
    main.enable()
    for _ in range(runs):
        once()
    main.disable()
    wall = time.perf_counter() - start
    _stop_thread_profiles()
    groups: dict[str, pstats.Stats] = {"main thread": pstats.Stats(main)}
    for group, profile in _profiles:
        if group in groups:
            groups[group].add(profile)
        else:
            groups[group] = pstats.Stats(profile)
    merged = pstats.Stats(main)
    for _, profile in _profiles:
        merged.add(profile)
    print(f"{name}: {runs} profiled runs (+1 warm-up in thread profiles), {wall:.2f} s wall\n")
    print("== all threads, all code ==")
    _report(merged, top, only_flyte=False)
    print("\n== all threads, flyte/ code only ==")
    _report(merged, top, only_flyte=True)
    for group, stats in groups.items():
        print(f"\n== thread {group} ==")
        _report(stats, max(8, top // 2), only_flyte=False)
        print()
        _cumulative(stats, max(8, top // 2))


def _profile_process(top: int) -> None:
    import bench_process

    workdir = Path(tempfile.mkdtemp(prefix="flyte-hotspots-"))
    hello = workdir / "hello.py"
    hello.write_text(bench_process.HELLO)
    from _harness import clean_env

    env = clean_env(FLYTE_HOME=str(workdir), PYTHONPYCACHEPREFIX=str(workdir / "pycache"))
    for _ in range(2):  # compile bytecode, create the store
        subprocess.run([sys.executable, str(hello)], env=env, check=True, capture_output=True)
    out = workdir / "hello.prof"
    subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(out), str(hello)],
        env=env,
        check=True,
        capture_output=True,
    )
    print("== python -X importtime: slowest imports (cumulative µs) ==")
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", str(hello)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    imports = []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, module = (p.strip() for p in line[len("import time:") :].split("|"))
            if cumulative.isdigit():
                imports.append((int(cumulative), module))
    for cumulative, module in sorted(imports, reverse=True)[:top]:
        print(f"{cumulative:9d}  {module}")
    print("\n== cProfile of the whole process (cumulative) ==")
    pstats.Stats(str(out)).sort_stats("cumulative").print_stats(top)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    if args.workload == "process_hello":
        _profile_process(args.top)
    else:
        _profile_in_process(args.workload, args.runs, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
