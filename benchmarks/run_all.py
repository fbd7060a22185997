"""Run the flyte-local benchmark suite (`make bench`) and write benchmarks/RESULTS.md.

Usage:
    python benchmarks/run_all.py                      # everything, writes RESULTS.md
    python benchmarks/run_all.py --quick              # fewer repetitions
    python benchmarks/run_all.py --only fanout_memory,chain_durable
    python benchmarks/run_all.py --list

Every workload runs in its own worker process (`--worker NAME`) with a fresh, empty
`FLYTE_HOME` temp dir, so engine state, caches and stores never leak between workloads.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _harness import BENCH_DIR, REPO, Row, clean_env


@dataclass(frozen=True)
class Workload:
    name: str
    target: str  # "module:function" returning list[Row]
    reps: int
    quick_reps: int
    timeout: float = 300.0


WORKLOADS: tuple[Workload, ...] = (
    Workload("fanout_durable", "bench_engine:fanout_durable", 31, 3),
    Workload("fanout_memory", "bench_engine:fanout_memory", 31, 3),
    Workload("chain_durable", "bench_engine:chain_durable", 31, 5),
    Workload("fanout_10k", "bench_engine:fanout_10k", 5, 1),
    Workload("fanout_100k", "bench_scale:fanout_100k", 3, 1, timeout=900),
    Workload("get_runs_1m", "bench_scale:get_runs_1m", 11, 3, timeout=900),
    Workload("logs_50mb", "bench_scale:logs_50mb", 3, 1, timeout=900),
    Workload("actions_json_100k", "bench_scale:actions_json_100k", 3, 1, timeout=900),
    Workload("tui_idle_cpu", "bench_scale:tui_idle_cpu", 3, 1, timeout=600),
    Workload("process_hello", "bench_process:process_hello", 9, 3),
    Workload("cache_hits", "bench_cache:cache_hits", 11, 3),
    Workload("cache_key", "bench_cache:cache_key", 21, 5),
    Workload("recovery", "bench_cache:recovery", 9, 2),
    Workload("cli", "bench_cli:cli", 7, 3),
    Workload("completion", "bench_completion:completion", 7, 3),
    Workload("watch_latency", "bench_watch:watch_latency", 5, 2),
    Workload("gc", "bench_gc:gc_big_store", 1, 1, timeout=900.0),
    Workload("report_fanout", "bench_report:report_fanout", 7, 2),
    Workload("durable_time", "bench_report:durable_time", 7, 2),
    Workload("server_submit", "bench_server:server_submit", 15, 3),
    Workload("server_get_runs", "bench_server:server_get_runs", 9, 3),
    Workload("server_fanout", "bench_server:server_fanout", 9, 2),
    Workload("workers", "bench_workers:workers", 7, 2),
    Workload("dask_fanout", "bench_dask:dask_fanout", 5, 2, timeout=600.0),
)

RESULTS = BENCH_DIR / "RESULTS.md"

HOW_TO_READ = """\
**How to read.** Each flyte figure is the median of *n* repetitions (after one warm-up
repetition for in-process workloads) and sits beside *plain Python* doing the same work in
the same worker process, interleaved with it, so both see the same machine noise: compare
the *ratio* across machines rather than the absolute figures. Per-task figures are the
whole `flyte.run(...)` call (run creation, every action recorded, the durable store flushed)
divided by the number of child tasks. Process figures run from spawn to exit of a fresh
interpreter, with their own peak RSS (`ru_maxrss`). *PASS/MISS* compares the flyte figure
(and peak RSS where there is an RSS target) with the target of DESIGN.md section 10;
*info* rows have no target; *SKIP* rows name what they are waiting for; a MISS says by how
much the figure is over. Process workloads load bytecode compiled beforehand into a temp
`PYTHONPYCACHEPREFIX` (as an installed package would), never compile during a timed run.
Upstream flyte 2.12.1 on the same class of machine: 540 µs per fanned-out task in memory,
1.6-4 ms with SQLite, 531 µs per cache hit, 0.44 s for a one-task process. To see where the
time goes: `python benchmarks/hotspots.py WORKLOAD` (cProfile across the engine's threads).
"""


# --- worker side ------------------------------------------------------------------------------


def _worker(name: str, reps: int, result: Path) -> int:
    workload = _by_name()[name]
    module_name, func_name = workload.target.split(":")
    workdir = Path(os.environ["FLYTE_HOME"]) / "work"
    workdir.mkdir(parents=True, exist_ok=True)
    func = getattr(importlib.import_module(module_name), func_name)
    rows: list[Row] = func(reps, workdir)
    result.write_text(json.dumps([r.to_json() for r in rows]))
    return 0


# --- orchestrator side ------------------------------------------------------------------------


def _by_name() -> dict[str, Workload]:
    return {w.name: w for w in WORKLOADS}


_WARM_IMPORTS = "import flyte, flyte._controller.local, flyte._store.sqlite, cloudpickle, sqlite3"


def compile_bytecode(pycache: Path) -> None:
    """Fill the suite's bytecode cache once, so no timed process start compiles source."""
    env = clean_env(PYTHONPYCACHEPREFIX=str(pycache))
    subprocess.run([sys.executable, "-c", _WARM_IMPORTS], env=env, cwd=REPO, check=True)
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "flyte", "flyte_cli"], env=env, cwd=REPO
    )


def run_workload(workload: Workload, reps: int, pycache: Path) -> list[Row]:
    home = Path(tempfile.mkdtemp(prefix=f"flyte-bench-{workload.name}-"))
    result = home / "result.json"
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        workload.name,
        "--reps",
        str(reps),
        "--result",
        str(result),
    ]
    try:
        proc = subprocess.run(
            cmd,
            env=clean_env(FLYTE_HOME=str(home), PYTHONPYCACHEPREFIX=str(pycache)),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=workload.timeout,
        )
        if proc.returncode != 0 or not result.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            return [
                _error_row(workload, f"worker exited {proc.returncode}: {tail[0]}", proc.stderr)
            ]
        return [Row.from_json(r) for r in json.loads(result.read_text())]
    except subprocess.TimeoutExpired:
        return [_error_row(workload, f"timed out after {workload.timeout:.0f} s", "")]
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _error_row(workload: Workload, message: str, stderr: str) -> Row:
    if stderr:
        sys.stderr.write(f"\n--- {workload.name} stderr ---\n{stderr[-4000:]}\n")
    if len(message) > 400:
        message = message[:400] + " ..."
    return Row(
        name=workload.name,
        title=f"{workload.name} (did not run)",
        unit="",
        note=f"ERROR: {message}",
    )


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value:.3f} s"
    if value >= 100:
        return f"{value:.0f} {unit}"
    if value >= 10:
        return f"{value:.1f} {unit}"
    return f"{value:.2f} {unit}"


def _ratio(row: Row) -> str:
    ratio = row.ratio
    return "-" if ratio is None else f"{ratio:.1f}x"


def _target(row: Row) -> str:
    parts = []
    if row.target is not None:
        parts.append("<= " + _fmt(row.target, row.unit))
    if row.rss_target_mib is not None:
        parts.append(f"<= {row.rss_target_mib:.0f} MiB")
    return ", ".join(parts) or "-"


def _rss(row: Row) -> str:
    if row.rss_mib is None:
        return "-"
    text = f"{row.rss_mib:.0f} MiB"
    if row.baseline_rss_mib is not None:
        text += f" (plain {row.baseline_rss_mib:.0f})"
    return text


HEADERS = ("workload", "n", "flyte", "plain Python", "ratio", "target", "peak RSS", "result")


def _cells(row: Row) -> tuple[str, ...]:
    baseline = _fmt(row.baseline, row.unit)
    if row.baseline is not None and row.baseline_label != "plain Python":
        baseline += f" ({row.baseline_label})"
    return (
        row.title,
        str(row.n) if row.n else "-",
        _fmt(row.value, row.unit),
        baseline,
        _ratio(row),
        _target(row),
        _rss(row),
        _status(row),
    )


def _status(row: Row) -> str:
    """The verdict, and for a miss by how much the figure is over its target."""
    if row.status != "MISS":
        return row.status
    over = []
    if row.target is not None and row.value is not None and row.value > row.target:
        over.append(f"+{(row.value / row.target - 1) * 100:.0f}%")
    if (
        row.rss_target_mib is not None
        and row.rss_mib is not None
        and row.rss_mib > row.rss_target_mib
    ):
        over.append(f"RSS +{(row.rss_mib / row.rss_target_mib - 1) * 100:.0f}%")
    return f"MISS {' '.join(over)}"


def print_table(rows: list[Row]) -> None:
    table = [HEADERS, *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]
    for i, line in enumerate(table):
        print("  ".join(cell.ljust(widths[j]) for j, cell in enumerate(line)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    notes = [r for r in rows if r.note]
    if notes:
        print()
        for r in notes:
            print(f"- {r.name}: {r.note}")


def _load() -> str:
    try:
        return "{:.2f} / {:.2f} / {:.2f}".format(*os.getloadavg())
    except OSError:
        return "?"


def machine_info() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import flyte

    return {
        "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "load": _load(),
        "nproc": str(os.cpu_count()),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": cpu,
        "flyte-local": getattr(flyte, "__version__", "?"),
    }


def write_markdown(
    rows: list[Row],
    info: dict[str, str],
    seconds: float,
    quick: bool,
    path: Path,
    load_before: str,
) -> None:
    out = [f"# flyte-local benchmarks, {info['date']}", ""]
    out.append(
        f"Machine: {info['nproc']} cores ({info['cpu']}), {info['implementation']} "
        f"{info['python']}, {info['platform']}; flyte-local {info['flyte-local']}. "
        f"Suite took {seconds:.0f} s{' (--quick)' if quick else ''}; "
        "produced by `make bench` (`benchmarks/run_all.py`). "
        f"Load average (1/5/15 min) before the suite {load_before}, after {info['load']}: "
        f"well above 0 means other work shared the {info['nproc']} cores, and absolute "
        "figures (process times above all) read high; the ratios hold better."
    )
    out.append("")
    out.append("| " + " | ".join(HEADERS) + " |")
    out.append("|" + "---|" * len(HEADERS))
    for row in rows:
        cells = [c.replace("|", "\\|") for c in _cells(row)]
        if cells[-1].startswith(("MISS", "ERROR")):
            cells[-1] = f"**{cells[-1]}**"
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    notes = [r for r in rows if r.note]
    if notes:
        out.append("Notes:")
        out.append("")
        out.extend(f"- `{r.name}`: {r.note}" for r in notes)
        out.append("")
    out.append(HOW_TO_READ)
    path.write_text("\n".join(out))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", action="append", default=[], help="workload names, comma-separated"
    )
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--reps", type=int, help="repetitions for every selected workload")
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    parser.add_argument(
        "--output",
        type=Path,
        help="markdown file to write (default: RESULTS.md on a full run, none with --only)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        return _worker(args.worker, args.reps, args.result)
    if args.list:
        for w in WORKLOADS:
            print(f"{w.name:16} reps={w.reps} quick={w.quick_reps}  ({w.target})")
        return 0

    names = [n.strip() for chunk in args.only for n in chunk.split(",") if n.strip()]
    unknown = [n for n in names if n not in _by_name()]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(_by_name())}")
    selected = [w for w in WORKLOADS if not names or w.name in names]

    start = time.perf_counter()
    load_before = _load()
    rows: list[Row] = []
    pycache = Path(tempfile.mkdtemp(prefix="flyte-bench-pycache-"))
    try:
        compile_bytecode(pycache)
        for w in selected:
            reps = args.reps or (w.quick_reps if args.quick else w.reps)
            t0 = time.perf_counter()
            print(f"running {w.name} (n={reps}) ...", end="", flush=True, file=sys.stderr)
            got = run_workload(w, reps, pycache)
            print(f" {time.perf_counter() - t0:.1f} s", file=sys.stderr)
            rows.extend(got)
    finally:
        shutil.rmtree(pycache, ignore_errors=True)
    seconds = time.perf_counter() - start

    print(f"\nload average before {load_before}, after {_load()} ({os.cpu_count()} cores)\n")
    print_table(rows)
    output = args.output or (None if names else RESULTS)
    if output is not None:
        write_markdown(rows, machine_info(), seconds, args.quick, output, load_before)
        print(f"\nwrote {output} ({seconds:.0f} s)")
    return 1 if any(r.status == "ERROR" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
