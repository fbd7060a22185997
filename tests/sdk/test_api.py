"""The authoring API: TaskEnvironment, @env.task, override, aio, forward and option checks."""

from __future__ import annotations

import asyncio
import inspect
import logging
from datetime import timedelta
from typing import Any

import pytest

import flyte
import flyte.errors
from flyte.errors import InvalidOptionError

env = flyte.TaskEnvironment("api_tests")


@env.task
def add(x: int, y: int = 1) -> int:
    """Add two numbers."""
    return x + y


@env.task
async def double(x: int) -> int:
    return 2 * x


@env.task(retries=2, timeout=30, cache="auto", short_name="tripler")
def triple(x: int) -> int:
    return 3 * x


@env.task()
async def empty_parens(x: int) -> int:
    return x


# --- TaskEnvironment and @env.task ---------------------------------------------------


def test_environment_name_and_task_full_name() -> None:
    assert add.name == "api_tests.add"
    assert double.name == "api_tests.double"
    assert add.short_name == "add"
    assert triple.short_name == "tripler"


def test_environment_registers_its_tasks() -> None:
    assert env.tasks["add"] is add
    assert env.tasks["double"] is double
    assert set(env.tasks) >= {"add", "double", "triple", "empty_parens"}


def test_environment_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        flyte.TaskEnvironment("kw", [])  # type: ignore[misc]
    e = flyte.TaskEnvironment(
        name="kw-only_env",
        resources=flyte.Resources(cpu=1, memory="250Mi"),
        env_vars={"A": "1"},
        secrets=flyte.Secret(key="token"),
        cache="auto",
        reusable=flyte.ReusePolicy(replicas=2),
        image=flyte.Image.from_debian_base(python_version=(3, 12)).with_pip_packages("numpy"),
        description="an environment",
    )
    assert e.name == "kw-only_env"


def test_bare_and_parametrized_decorators_keep_the_function_signature() -> None:
    assert inspect.signature(add) == inspect.signature(add.func)
    assert list(inspect.signature(add).parameters) == ["x", "y"]
    assert add.__name__ == "add"
    assert add.__doc__ == "Add two numbers."
    assert triple.__name__ == "triple"
    assert empty_parens.name == "api_tests.empty_parens"


def test_sync_and_async_tasks_are_told_apart() -> None:
    assert add.is_async is False
    assert double.is_async is True
    assert empty_parens.is_async is True


def test_task_options_are_recorded() -> None:
    assert triple.retries.count == 2
    assert triple.timeout is not None and triple.timeout.seconds == 30
    assert triple.cache.behavior == "auto"
    settings = triple.settings
    assert settings["retries"] == 2
    assert settings["timeout"] == 30
    assert settings["cache"]["behavior"] == "auto"
    assert settings["env"] == "api_tests"


def test_environment_defaults_flow_to_tasks() -> None:
    e = flyte.TaskEnvironment(
        "defaults",
        resources=flyte.Resources(cpu=2, memory="1Gi"),
        env_vars={"MODE": "test"},
        cache="auto",
    )

    @e.task
    def t() -> None: ...

    @e.task(cache="disable")
    def u() -> None: ...

    assert t.resources == flyte.Resources(cpu=2, memory="1Gi")
    assert t.env_vars == {"MODE": "test"}
    assert t.cache.behavior == "auto"
    assert u.cache.behavior == "disable"


def test_cache_accepts_strings_and_objects() -> None:
    for value in ("auto", "disable", flyte.Cache("auto"), flyte.Cache(behavior="disable")):
        e = flyte.TaskEnvironment("cache_forms", cache=value)

        @e.task
        def t() -> None: ...

        assert t.cache.behavior in ("auto", "disable")
    c = flyte.Cache("override", version_override="v1", ignored_inputs="verbose", salt="s")
    assert c.ignored_inputs == ("verbose",)


def test_timeout_forms() -> None:
    for value, seconds in ((5, 5), (timedelta(minutes=1), 60), (flyte.Timeout(7), 7)):

        @env.task(timeout=value)
        def t() -> None: ...

        assert t.timeout is not None and t.timeout.seconds == seconds


def test_retry_forms() -> None:
    @env.task(retries=3)
    def r1() -> None: ...

    @env.task(
        retries=flyte.RetryStrategy(count=2, backoff=flyte.Backoff(base=0.1, factor=2, cap=1))
    )
    def r2() -> None: ...

    assert r1.retries.count == 3
    assert r2.retries.count == 2


def test_backoff_accepts_timedeltas_like_upstream() -> None:
    b = flyte.Backoff(base=timedelta(seconds=1), factor=2.0, cap=timedelta(seconds=3))
    strategy = flyte.RetryStrategy(count=4, backoff=b)
    assert strategy.delay(1) == pytest.approx(1.0)
    assert strategy.delay(2) == pytest.approx(2.0)
    assert strategy.delay(3) == pytest.approx(3.0)


def test_timeout_accepts_all_upstream_bounds() -> None:
    t = flyte.Timeout(
        max_runtime=timedelta(minutes=10),
        max_queued_time=timedelta(minutes=5),
        deadline=timedelta(minutes=30),  # type: ignore[call-arg]
    )
    assert t.seconds == 600


def test_image_builder_records_a_spec() -> None:
    base = flyte.Image.from_debian_base(python_version=(3, 12))
    image = base.with_pip_packages("numpy", "pandas").with_apt_packages("git")
    assert image is not base
    assert base.layers == ()
    spec = image.to_dict()
    assert spec["python_version"] == (3, 12)
    assert spec["layers"] == [["pip", ["numpy", "pandas"]], ["apt", ["git"]]]


def test_secret_env_var_names() -> None:
    assert flyte.Secret(key="openai-key").env_var == "OPENAI_KEY"
    assert flyte.Secret(key="k", as_env_var="MY_VAR").env_var == "MY_VAR"


# --- override ------------------------------------------------------------------------


def test_override_returns_a_copy_and_leaves_the_original_unchanged() -> None:
    big = flyte.Resources(cpu=4, memory="16Gi")
    new = triple.override(
        resources=big, retries=5, timeout=99, cache="disable", short_name="t3", env_vars={"K": "V"}
    )
    assert new is not triple
    assert isinstance(new, flyte.TaskTemplate)
    assert new.name == triple.name
    assert (new.resources, new.retries.count, new.cache.behavior) == (big, 5, "disable")
    assert new.timeout is not None and new.timeout.seconds == 99
    assert new.short_name == "t3"
    assert new.env_vars == {"K": "V"}
    assert new.settings["retries"] == 5
    # The original is untouched, including its cached settings.
    assert triple.resources is None
    assert triple.retries.count == 2
    assert triple.cache.behavior == "auto"
    assert triple.timeout is not None and triple.timeout.seconds == 30
    assert triple.short_name == "tripler"
    assert triple.env_vars == {}
    assert triple.settings["retries"] == 2
    # The copy still calls the same body.
    assert new(2) == 6


def test_override_validates_its_options() -> None:
    with pytest.raises(InvalidOptionError, match="non-negative"):
        triple.override(retries=-1)
    with pytest.raises(InvalidOptionError, match="auto"):
        triple.override(cache="sometimes")
    with pytest.raises(InvalidOptionError):
        triple.override(resources={"cpu": 1})  # type: ignore[arg-type]


# --- calling outside a run -----------------------------------------------------------


def test_sync_task_outside_a_run_is_a_plain_call() -> None:
    assert add(1, 2) == 3
    assert add(x=1) == 2
    assert flyte.ctx() is None or not flyte.ctx()


def test_async_task_outside_a_run_returns_a_coroutine() -> None:
    coro = double(4)
    assert inspect.iscoroutine(coro)
    assert asyncio.run(coro) == 8


def test_aio_is_always_awaitable_outside_a_run() -> None:
    async def main() -> tuple[int, int]:
        return await add.aio(2, 3), await double.aio(5)

    assert asyncio.run(main()) == (5, 10)


def test_forward_calls_the_body() -> None:
    assert add.forward(4, y=4) == 8
    assert asyncio.run(double.forward(x=3)) == 6


def test_calls_outside_a_run_record_nothing(store: Any) -> None:
    before = store.change_counter()
    assert add(1, 1) == 2
    assert asyncio.run(double(1)) == 2
    assert store.list_runs() == []
    assert store.change_counter() == before


# --- invalid options raise at decoration time ----------------------------------------


@pytest.mark.parametrize("name", ["bad name", "dots.not.ok", "", "slash/no", "émoji✨"])
def test_bad_environment_name_lists_valid_characters(name: str) -> None:
    with pytest.raises(InvalidOptionError) as info:
        flyte.TaskEnvironment(name)
    message = str(info.value)
    assert repr(name) in message
    assert "letters" in message and "digits" in message and "'_'" in message and "'-'" in message
    # upstream code catches ValueError
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("name", ["hello_world", "ex-cache", "hello_v2", "a1"])
def test_good_environment_names(name: str) -> None:
    assert flyte.TaskEnvironment(name).name == name


def test_negative_retries_raise_at_decoration_time() -> None:
    with pytest.raises(InvalidOptionError) as info:

        @env.task(retries=-1)
        def t() -> None: ...

    assert "non-negative" in str(info.value) and "-1" in str(info.value)
    with pytest.raises(InvalidOptionError):
        flyte.RetryStrategy(count=-2)


def test_unknown_cache_behavior_lists_the_valid_ones() -> None:
    with pytest.raises(InvalidOptionError) as info:

        @env.task(cache="sometimes")
        def t() -> None: ...

    message = str(info.value)
    assert "sometimes" in message
    for valid in ("auto", "override", "disable"):
        assert valid in message
    with pytest.raises(InvalidOptionError, match="Invalid cache behavior"):
        flyte.Cache("foo")  # type: ignore[arg-type]
    with pytest.raises(InvalidOptionError, match="Invalid cache behavior"):
        flyte.TaskEnvironment("c", cache="never")


@pytest.mark.parametrize("memory", ["lots", "12Qi", "1.5 GB", "-1Gi"])
def test_bad_memory_string_lists_the_units(memory: str) -> None:
    with pytest.raises(InvalidOptionError) as info:
        flyte.Resources(memory=memory)
    message = str(info.value)
    assert repr(memory) in message
    for unit in ("Ki", "Mi", "Gi"):
        assert unit in message


@pytest.mark.parametrize("memory", ["250Mi", "1Gi", "500M", "1024", 2048, ("1Gi", "2Gi")])
def test_good_memory_quantities(memory: Any) -> None:
    flyte.Resources(memory=memory)


def test_bad_resources_on_a_task_raise_at_decoration_time() -> None:
    with pytest.raises(InvalidOptionError):

        @env.task(resources={"memory": "1Gi"})  # type: ignore[arg-type]
        def t() -> None: ...

    with pytest.raises(InvalidOptionError, match="cpu"):
        flyte.Resources(cpu="lots")


def test_bad_timeout_raises_at_decoration_time() -> None:
    with pytest.raises(InvalidOptionError, match="positive"):

        @env.task(timeout=-1)
        def t() -> None: ...

    with pytest.raises(InvalidOptionError, match="timeout"):

        @env.task(timeout="soon")  # type: ignore[arg-type]
        def u() -> None: ...


def test_bad_backoff_and_reuse_policy() -> None:
    with pytest.raises(InvalidOptionError, match="factor"):
        flyte.Backoff(base=1, factor=0.5, cap=3)
    with pytest.raises(InvalidOptionError, match="replicas"):
        flyte.ReusePolicy(replicas=0)
    with pytest.raises(InvalidOptionError, match="concurrency"):
        flyte.ReusePolicy(concurrency=0)


def test_bad_env_vars_and_secrets() -> None:
    with pytest.raises(InvalidOptionError, match="env_vars"):
        flyte.TaskEnvironment("ev", env_vars={"A": 1})  # type: ignore[dict-item]
    with pytest.raises(InvalidOptionError, match="secret"):
        flyte.Secret(key="has space")


# --- init -------------------------------------------------------------------------------


def test_init_takes_upstreams_options_and_refuses_a_misspelt_one() -> None:
    flyte.init(insecure=True, images={"default": "python:3.11"}, rpc_retries=5)
    flyte.init_from_config(image_builder="local", images=("x",))
    with pytest.raises(TypeError, match="unexpected option 'endpont'; did you mean 'endpoint'"):
        flyte.init(endpont="http://127.0.0.1:1")
    with pytest.raises(TypeError, match=r"flyte\.init_from_config\(\) got an unexpected option"):
        flyte.init_from_config(no_such_option=1)


def test_init_log_level_sets_flytes_logger() -> None:
    logger = logging.getLogger("flyte")
    before = logger.level
    try:
        flyte.init(log_level=logging.DEBUG)
        assert logger.getEffectiveLevel() == logging.DEBUG
        flyte.init_from_config(log_level="WARNING")
        assert logger.getEffectiveLevel() == logging.WARNING
    finally:
        logger.setLevel(before)


def test_init_and_init_from_config_are_optional_and_local(tmp_path: Any) -> None:
    flyte.init()
    flyte.init_from_config()
    flyte.init_from_config(str(tmp_path / "missing-config.yaml"))
    run = flyte.run(add, 1, 2)
    assert run.outputs()[0] == 3
