"""TaskEnvironment: checked options, tasks defined elsewhere, and dependencies deployed along."""

from __future__ import annotations

import pytest

import flyte
from flyte.errors import InvalidOptionError

shared = flyte.TaskEnvironment("shared_env")


@shared.task
def helper(x: int) -> int:
    return x * 2


@shared.task
async def other(x: int) -> int:
    return x + 1


def test_options_of_the_wrong_kind_are_refused_naming_the_right_one() -> None:
    with pytest.raises(InvalidOptionError, match=r"resources must be flyte.Resources\(...\)"):
        flyte.TaskEnvironment("bad_resources", resources={"cpu": 1})  # type: ignore[arg-type]
    with pytest.raises(InvalidOptionError, match=r"reusable must be flyte.ReusePolicy\(...\)"):
        flyte.TaskEnvironment("bad_reuse", reusable=True)  # type: ignore[arg-type]


def test_an_environment_of_tasks_defined_elsewhere_deploys_them_and_its_dependencies() -> None:
    base = flyte.TaskEnvironment("base_env")

    @base.task
    def base_task() -> int:
        return 1

    holder = flyte.TaskEnvironment.from_task("holder_env", helper, other)
    assert set(holder.tasks) == {"helper", "other"}
    with pytest.raises(InvalidOptionError, match="already exists in the environment"):
        holder.add_task(helper)
    holder.add_dependency(base)
    deployed = flyte.deploy(holder, dry_run=True)
    assert {d.env for d in deployed} == {"holder_env", "base_env"}
    # Environments are keyed by name: the same name is the same environment.
    assert flyte.TaskEnvironment("base_env") == base and base != "base_env"
    assert len({base, flyte.TaskEnvironment("base_env"), holder}) == 2
