# flyte-local compat: an async task returning a sync task's un-awaited handle returns its value
import flyte

env = flyte.TaskEnvironment(name="handle_compat")


@env.task
def noio(x: int) -> int:
    return x * 7


@env.task
async def main(x: int = 6):
    return noio(x)  # not awaited: upstream returns the child's value


if __name__ == "__main__":
    flyte.init_from_config()
    r = flyte.run(main, x=6)
    print(r.outputs())
