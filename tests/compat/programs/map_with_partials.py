# upstream: flyteorg/flyte-sdk examples/basics/map_with_partials.py (flyte.map over functools.partial); __main__ adapted
# batch_id is `str` as in upstream's current copy: the str items it maps over do not fit `int`,
# and flyte-local, like upstream's type engine, now checks inputs against the interface.
from functools import partial

import flyte

env = flyte.TaskEnvironment(name="single_cpu", resources=flyte.Resources(cpu="1"))


@env.task
def my_task(name: str, constant_param: str, batch_id: str) -> str:
    print(name, constant_param, batch_id)
    return name


@env.task
def my_task_correct(batch_id: str, name: str, constant_param: str) -> str:
    print(name, constant_param, batch_id)
    return name


@env.task
def main():
    compounds = [str(i) for i in range(3)]
    constant_param = "shared_config"
    task_with_constant = partial(my_task, constant_param=constant_param, name="daniel")

    task_with_constant_correct = partial(my_task_correct, constant_param=constant_param, name="daniel")
    # This should work
    list(flyte.map(task_with_constant_correct, compounds))

    try:
        list(flyte.map(task_with_constant, compounds))
    except TypeError as e:
        print(f"Caught expected TypeError: {e}")


if __name__ == "__main__":
    flyte.init()  # upstream: flyte.init_from_config("../../config.yaml")
    run = flyte.run(main)
    print(run.url)
    print(run.outputs())  # main returns None
