# The seed's "Fine-grained reproducibility" snippet (seed/flyte2-overview.md) with the
# `...` bodies filled in: a @flyte.trace checkpoint, then a plain `def` task awaited from
# an async task (upstream Flyte 2 rejects that; flyte-local accepts it), cache="auto".
# Expected: ('ANSWER TO: WHY?!',) on every run; the second run is a cache hit.
import flyte

env = flyte.TaskEnvironment("seed_trace")


@flyte.trace
async def call_llm(prompt: str) -> str:
    return f"answer to: {prompt}"


@env.task
def finalize_output(output: str) -> str:
    return output.upper() + "!"


@env.task(cache=flyte.Cache(behavior="auto"))
async def main(prompt: str) -> str:
    output = await call_llm(prompt)
    output = await finalize_output(output)
    return output


if __name__ == "__main__":
    flyte.init()
    run = flyte.run(main, "why?")
    print(run.outputs())
