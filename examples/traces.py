# /// script
# requires-python = ">=3.10"
# dependencies = ["flyte-local"]
# ///
"""Trace checkpoints that replay: a flaky step does not redo the expensive ones.

`fetch` and `embed` are `@flyte.trace` checkpoints inside one task. The task fails on its
first attempt after both succeeded; on the retry they return their recorded values
without running again (`flyte get actions RUN` marks them replayed), and only `publish`
runs. Upstream Flyte 2 replays traces only on its remote platform.

How to run:
    flyte run examples/traces.py main --topic otters
    flyte get actions <run>          # the traces under `main`, two of them replayed
    python examples/traces.py
"""

from __future__ import annotations

import flyte

env = flyte.TaskEnvironment("traces")


@flyte.trace
async def fetch(topic: str) -> list[str]:
    """An expensive call (an API, an LLM): recorded once, replayed on retry."""
    print(f"fetching documents about {topic}")
    return [f"{topic} document {i}" for i in range(3)]


@flyte.trace
async def embed(documents: list[str]) -> list[int]:
    """Another expensive step, checkpointed the same way."""
    print(f"embedding {len(documents)} documents")
    return [len(d) for d in documents]


@flyte.trace
async def publish(vectors: list[int]) -> int:
    """The last step; the first attempt fails just before it."""
    return sum(vectors)


@env.task(retries=1)
async def main(topic: str = "otters") -> int:
    """Fetch, embed and publish; the first attempt fails after the two checkpoints."""
    documents = await fetch(topic)
    vectors = await embed(documents)
    attempt = flyte.ctx().attempt  # type: ignore[union-attr]
    if attempt == 1:
        raise ConnectionError("the publishing service hung up (attempt 1)")
    return await publish(vectors)


if __name__ == "__main__":
    run = flyte.run(main, topic="otters")
    print(run.name, run.outputs()[0])
