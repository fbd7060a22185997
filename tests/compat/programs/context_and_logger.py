# flyte-local compat: flyte.logger, ctx() attributes, .aio twins of module functions
import asyncio

import flyte

env = flyte.TaskEnvironment(name="ctx_compat")


@env.task
async def child(key: str) -> str:
    ctx = flyte.ctx()
    ctx.data[key] = "set by child"
    flyte.logger.info("child sees run %s", ctx.action.run_name)
    assert ctx.run_start_time is not None and ctx.run_start_time.tzinfo is not None
    assert flyte.ctx().data[key] == "set by child" and flyte.ctx()[key] == "set by child"
    assert ctx.custom_context.get("team") == "ml"
    return f"{ctx.mode}:{ctx.attempt_number}:{ctx.custom_context['team']}"


@env.task
async def main() -> str:
    flyte.logger.warning("main starts")
    with flyte.custom_context(team="ml"):
        results = await asyncio.gather(child("a"), child("b"))
    return f"{results[0]} {flyte.current_project()}/{flyte.current_domain()}"


async def amain() -> None:
    await flyte.init_from_config.aio()
    r = await flyte.run.aio(main)
    print(r.outputs())


if __name__ == "__main__":
    asyncio.run(amain())
    print(flyte.version() == flyte.__version__)
