"""Run every upstream example program against this checkout and classify each outcome.

Usage:
    python tests/compat/run_upstream.py PATH/TO/flyte-sdk/examples [--timeout 40] [--jobs 2]

Each file with a `__main__` block runs as `python FILE` from its folder, with this
checkout first on PYTHONPATH and a fresh FLYTE_HOME. Outcomes:
  ran        exit 0
  excused    imports upstream-private modules (flyte._*, flyteplugins, flyteidl2, ...) or a
             package that is not installed (pandas, torch, the example's own sibling package)
  gap        uses a public upstream name flyte-local does not have
  slow       still running at the timeout (long sleeps, stress loops)
  failed     anything else (including examples that fail on purpose)
Not a test (it needs upstream's checkout, which tests may not fetch); see UPSTREAM.md.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PRIVATE = re.compile(
    r"No module named '(flyte\._[\w.]*|flyteplugins[\w.]*|flyteidl2[\w.]*|flyte_controller_base)'"
)
MISSING = re.compile(r"No module named '([\w.]+)'")
# An app whose command (gunicorn, streamlit, ...) is a program this machine does not have.
NOT_INSTALLED = re.compile(r"its command '[^']+' is not installed on this machine")
GAP = re.compile(
    r"No module named 'flyte\.[a-z]|module 'flyte[\w.]*' has no attribute|cannot import name '\w+' from 'flyte|object has no attribute"
)


def classify(rc: int | str, err: str) -> str:
    if rc == 0:
        return "ran"
    if rc == "timeout":
        return "slow"
    if PRIVATE.search(err):
        return "excused"
    missing = MISSING.search(err)
    if missing and not missing.group(1).startswith("flyte"):
        return "excused"
    if NOT_INSTALLED.search(err):
        return "excused"
    if GAP.search(err):
        return "gap"
    return "failed"


def run(path: Path, root: Path, timeout: float) -> tuple[str, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLYTE_")}
    env.update(FLYTE_HOME=tempfile.mkdtemp(prefix="flyte-upstream-"), PYTHONPATH=str(REPO))
    try:
        proc = subprocess.run(
            [sys.executable, path.name],
            cwd=path.parent,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            stdin=subprocess.DEVNULL,
        )
        rc: int | str = proc.returncode
        err = proc.stderr
    except subprocess.TimeoutExpired:
        rc, err = "timeout", ""
    last = next((line for line in reversed(err.splitlines()) if line.strip()), "")
    return str(path.relative_to(root)), classify(rc, err), last[:160]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("examples", type=Path)
    parser.add_argument("--timeout", type=float, default=40)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    files = sorted(
        p for p in args.examples.rglob("*.py") if "__main__" in p.read_text(errors="ignore")
    )
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda p: run(p, args.examples, args.timeout), files))
    counts: dict[str, int] = {}
    for name, outcome, last in results:
        counts[outcome] = counts.get(outcome, 0) + 1
        print(f"{outcome:8} {name}  {last}")
    print(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))


if __name__ == "__main__":
    main()
