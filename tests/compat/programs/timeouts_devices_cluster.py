# flyte-local compat: Timeout forms, GPU strings and devices, cluster-only task options
from datetime import timedelta

import flyte
import flyte.errors

env = flyte.TaskEnvironment(
    name="cluster_compat",
    resources=flyte.Resources(cpu=1, memory="500Mi", gpu="A100 80G:8"),
    image=flyte.Image.from_debian_base().with_pip_packages("numpy").clone(name="custom"),
    pod_template=flyte.PodTemplate(primary_container_name="primary").with_termination_grace_period(30),
    secrets=[flyte.Secret("api-key", as_env_var="API_KEY")],
    include=("helpers.py",),
)
gpu_env = env.clone_with(name="gpu_compat", resources=flyte.Resources(gpu=flyte.GPU("H100", 2, partition="1g.10gb")))
tpu_env = env.clone_with(name="tpu_compat", resources=flyte.Resources(gpu=flyte.TPU("V5P", "2x2x1")))


@env.task(
    timeout=flyte.Timeout(max_runtime=timedelta(seconds=30), max_queued_time=timedelta(minutes=5)),
    queue="critical",
    interruptible=True,
    triggers=(flyte.Trigger("hourly", flyte.Cron("0 * * * *")), flyte.Trigger.daily()),
    docs=flyte.Documentation(short_description="a documented task"),
    entrypoint=True,
)
def square(x: int) -> int:
    return x * x


@gpu_env.task(timeout=flyte.Timeout(max_runtime=60))
def on_gpu(x: int) -> int:
    return x + 1


@tpu_env.task(timeout=0)
def on_tpu(x: int) -> int:
    return x + 2


@env.task(retries=3, timeout=flyte.Timeout(deadline=timedelta(seconds=0.3)))
async def too_slow() -> str:
    import asyncio

    await asyncio.sleep(5)
    return "never"


@env.task(entrypoint=True)
async def main(x: int = 3) -> str:
    try:
        await too_slow()
        outcome = "no timeout?"
    except flyte.errors.TaskTimeoutError as e:
        outcome = f"deadline: {type(e).__name__}"
    total = await square.aio(x) + await on_gpu.aio(x) + await on_tpu.aio(x)
    return f"{total} {outcome}"


if __name__ == "__main__":
    flyte.init_from_config()
    r = flyte.with_runcontext("local").run(main, x=3)
    print(r.outputs())
