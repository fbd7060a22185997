# flyte-local compat: reports written the way upstream's examples/reports/*.py write them
import asyncio

import flyte
import flyte.report

env = flyte.TaskEnvironment(name="reports_compat")


@env.task(report=True)
async def streaming(steps: int) -> int:
    await flyte.report.replace.aio("<h1>Progress</h1>")
    for i in range(steps):
        await flyte.report.log.aio(f"<p>step {i}</p>", do_flush=True)
        await asyncio.sleep(0)
    tab = flyte.report.get_tab("Details")
    tab.log("<ul><li>alpha</li></ul>")
    await flyte.report.flush.aio()
    return steps


@env.task(report=True)
def sync_report(name: str) -> str:
    flyte.report.log(f"<b>hello {name}</b>")
    flyte.report.get_tab("Raw").replace("<pre>raw</pre>")
    flyte.report.flush()
    return name


@env.task
async def main(steps: int = 3) -> str:
    n = await streaming(steps)
    name = await sync_report.aio("report")
    return f"{name}:{n}"


if __name__ == "__main__":
    flyte.init_from_config()
    r = flyte.run(main, steps=3)
    print(r.name)
    print(r.url)
    r.wait()
    print(r.outputs())
