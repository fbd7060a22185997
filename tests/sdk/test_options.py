"""Task options: resource quantities validated with messages that say what is accepted, and
image specs recorded layer by layer (nothing is built locally)."""

from __future__ import annotations

from typing import Any

import pytest

import flyte
from flyte.errors import InvalidOptionError


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cpu": True}, "cpu must be a number or a string like '500m'"),
        ({"cpu": 0}, "cpu must be positive"),
        ({"cpu": "two"}, "use a number (1, 0.5) or millicores ('500m')"),
        ({"memory": True}, "memory must be a quantity like '512Mi'"),
        ({"memory": -1}, "memory must not be negative"),
        ({"memory": "12 parsecs"}, "use a number with one of the units Ki, Mi, Gi"),
        ({"disk": "lots"}, "disk 'lots' is not a valid quantity"),
        ({"shm": "some"}, "shm 'some' is not a valid quantity"),
        ({"cpu": (1, "x")}, "cpu 'x' is not valid"),
    ],
)
def test_a_bad_quantity_is_refused_saying_what_is_accepted(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidOptionError) as info:
        flyte.Resources(**kwargs)
    assert message in str(info.value)


def test_quantities_in_every_accepted_form() -> None:
    r = flyte.Resources(cpu=("500m", 2), memory=("1Gi", "2G"), disk=1024, shm="auto", gpu=0)
    assert r.memory_bytes == 2 * 1000**3  # the upper bound of a range
    assert r.get_device() is None  # gpu=0 asks for none
    assert flyte.Resources().memory_bytes is None
    assert flyte.Resources(memory=512).memory_bytes == 512


env = flyte.TaskEnvironment(
    "imaged",
    image=flyte.Image.from_debian_base(python_version=(3, 12))
    .with_requirements("requirements.txt")
    .with_uv_project("pyproject.toml")
    .with_env_vars({"B": "2", "A": "1"})
    .with_commands(["make"])
    .with_source_folder("src")
    .with_source_file("x.py", "/app")
    .with_workdir("/app")
    .with_local_v2()
    .with_dockerignore(".dockerignore")
    .with_code_bundle()
    .with_poetry_project("pyproject.toml")
    .with_pixi_project()
    .clone(name="mine", addl_layer="extra"),
)


@env.task
def imaged() -> int:
    return 1


def test_an_image_spec_is_recorded_with_the_task_layer_by_layer(store: Any) -> None:
    run = flyte.run(imaged)
    (action,) = run.actions()
    spec = action.settings["image"]
    assert spec["name"] == "mine" and list(spec["python_version"]) == [3, 12]
    assert [layer[0] for layer in spec["layers"]] == [
        "requirements",
        "uv_project",
        "env",
        "commands",
        "source_folder",
        "source_file",
        "workdir",
        "local_v2",
        "dockerignore",
        "code_bundle",
        "poetry_project",
        "pixi_project",
        "layer",
    ]
    assert list(spec["layers"][2]) == ["env", ["(('A', '1'), ('B', '2'))"]]  # sorted
    assert env.image.uri == "mine:local"  # type: ignore[union-attr]
    for other in (
        flyte.Image.from_base("python:3.12"),
        flyte.Image.from_uv_script("s.py"),
        flyte.Image.from_dockerfile("Dockerfile"),
        flyte.Image.from_pixi_script("p.py", name="px"),
    ):
        other.validate()  # every spec is accepted locally
        assert other.uri.endswith(":local")
