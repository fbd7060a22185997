# /// script
# requires-python = ">=3.10"
# dependencies = ["flyte-local"]
# ///
"""A run that fails: `main` calls `divide`, which raises ValueError for a zero divisor.

Shows what a failed run looks like: the user's traceback, the failing action's logs, the
run name and exit code 1.

How to run:
    flyte run examples/failing.py main            # fails (b defaults to 0)
    flyte run examples/failing.py main --b 4      # succeeds: 0.25
    python examples/failing.py
"""

from __future__ import annotations

import flyte

env = flyte.TaskEnvironment("failing")


@env.task
def divide(a: int, b: int) -> float:
    """Divide `a` by `b`; a zero `b` is a ValueError."""
    print(f"dividing {a} by {b}")
    if b == 0:
        raise ValueError("cannot divide by zero")
    return a / b


@env.task
def main(a: int = 1, b: int = 0) -> float:
    """Call `divide(a, b)`; with the default `b=0` the run fails."""
    return divide(a, b)


if __name__ == "__main__":
    try:
        flyte.run(main)
    except ValueError as exc:
        print(f"the run failed as expected: {exc}")
