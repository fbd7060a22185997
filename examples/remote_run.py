# /// script
# requires-python = ">=3.10"
# dependencies = ["flyte-local[server]"]
# ///
"""The same program, local or on a team server (`flyte serve`): only the config differs.

Without an endpoint it runs locally; with one (`FLYTE_ENDPOINT` / `FLYTE_API_KEY`, or
`.flyte/config.toml` with `endpoint = "http://HOST:8090"` and `api_key = "..."`) the code
and the inputs are shipped to the server, which drives the run, and this program follows
it from there. Nothing is written to the local store then.

How to run:
    flyte run examples/remote_run.py main --n 5              # locally
    flyte serve                                              # in another terminal: prints a token
    flyte --endpoint http://127.0.0.1:8090 --api-key TOKEN run examples/remote_run.py main
    FLYTE_ENDPOINT=http://127.0.0.1:8090 FLYTE_API_KEY=TOKEN python examples/remote_run.py
"""

from __future__ import annotations

import asyncio

import flyte

env = flyte.TaskEnvironment("remote_run")


@env.task
async def square(x: int) -> int:
    """Square `x`, saying so (the line lands in the run's logs, wherever it runs)."""
    print(f"squaring {x}")
    return x * x


@env.task
async def main(n: int = 5) -> int:
    """The sum of the squares below `n`, one task per square."""
    return sum(await asyncio.gather(*(square(i) for i in range(n))))


if __name__ == "__main__":
    flyte.init_from_config()  # an endpoint there (or in FLYTE_ENDPOINT) sends the run away
    run = flyte.with_runcontext(wait=False, echo=False).run(main, n=5)
    print(f"run {run.name}: {run.url}")
    run.wait()
    run.show_logs()
    print(run.phase, run.outputs()[0])
