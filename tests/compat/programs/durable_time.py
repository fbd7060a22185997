# flyte-local compat: flyte.durable sleep/time/now (sync and .aio) replay across retries
from datetime import datetime

import flyte
import flyte.durable

env = flyte.TaskEnvironment(name="durable_compat")
seen: dict[str, list] = {"t": [], "n": [], "a": []}


@env.task(retries=1)
async def remember() -> bool:
    t = flyte.durable.time()
    n = await flyte.durable.now.aio()
    a = await flyte.durable.time.aio()
    await flyte.durable.sleep.aio(0.05)
    flyte.durable.sleep(0.01)
    seen["t"].append(t)
    seen["n"].append(n)
    seen["a"].append(a)
    if len(seen["t"]) == 1:
        raise RuntimeError("first attempt fails after its checkpoints")
    # The retry replays every checkpoint: the same time and datetime as attempt 1.
    return seen["t"][0] == seen["t"][1] and seen["n"][0] == seen["n"][1] and isinstance(n, datetime)


@env.task
async def main() -> bool:
    return await remember()


if __name__ == "__main__":
    flyte.init_from_config()
    r = flyte.run(main)
    print(r.outputs())
