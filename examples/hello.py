# /// script
# requires-python = ">=3.10"
# dependencies = ["flyte-local"]
# ///
"""Hello, World! with a small fan-out: `main` greets a name and a few friends in parallel.

How to run:
    flyte run examples/hello.py main --name World     # live tree, then the greeting
    flyte run examples/hello.py main --help           # the inputs of `main`
    python examples/hello.py                          # plain Python works too
"""

from __future__ import annotations

import asyncio

import flyte

env = flyte.TaskEnvironment("hello")


@env.task
async def say_hello(name: str) -> str:
    """Greet one name."""
    print(f"greeting {name}")
    return f"Hello, {name}!"


@env.task
async def main(name: str = "World", friends: int = 2) -> str:
    """Greet `name` and `friends` more names in parallel; return the greeting for `name`.

    Args:
        name: who to greet.
        friends: how many extra greetings to fan out.
    """
    names = [name, *(f"friend {i}" for i in range(1, friends + 1))]
    greetings = await asyncio.gather(*(say_hello(n) for n in names))
    return greetings[0]


if __name__ == "__main__":
    run = flyte.run(main, name="World")
    print(run.outputs()[0])
