# The seed's "Pure Python execution" program, Sync Python tab (seed/flyte2-overview.md),
# unchanged except that it prints run.outputs(). Expected: ('Done',) and 11 actions.
# ruff: noqa: B007  (the seed writes `for i in range(10)`; kept verbatim)
import flyte

env = flyte.TaskEnvironment("hello_world")


@env.task
def hello_world(name: str) -> str:
    return f"Hello, {name}!"


@env.task
def main(name: str) -> str:
    for i in range(10):
        hello_world(name)
    return "Done"


if __name__ == "__main__":
    flyte.init()
    run = flyte.run(main, name="World")
    print(run.outputs())
