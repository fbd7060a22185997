"""The rest of upstream's surface: devices, Timeout forms, cluster-only names, logger,
durable time, ctx() attributes, dict inputs, `.aio` twins, un-awaited handles."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from typing import Any

import pydantic
import pytest

import flyte
import flyte.durable
import flyte.errors
from flyte import Phase
from flyte.errors import InvalidOptionError

env = flyte.TaskEnvironment("upstream_api")
seen: dict[str, list[Any]] = {}


# --- devices ---------------------------------------------------------------------------


@pytest.mark.parametrize("gpu", ["A100 80G:8", "T4:1", "H100:4", "Trn1:16", "MI300X:2", 2, 0])
def test_accelerator_strings_and_counts(gpu: Any) -> None:
    flyte.Resources(gpu=gpu)


@pytest.mark.parametrize(
    ("gpu", "message"),
    [
        ("A200:1", "not a known accelerator"),
        ("A100:9", "count after ':' must be 1 to 8"),
        ("A100:x", "count after ':'"),
        (-1, "greater than or equal to 1"),
        (True, "count or 'TYPE:COUNT'"),
        (1.5, "accelerator string such as 'A100:4'"),
    ],
)
def test_bad_accelerators_say_what_is_valid(gpu: Any, message: str) -> None:
    with pytest.raises(InvalidOptionError, match=message):
        flyte.Resources(gpu=gpu)


def test_device_helpers_validate_types_and_partitions() -> None:
    assert flyte.GPU("A100", 2, partition="1g.5gb") == flyte.Device(
        quantity=2, device_class="GPU", device="A100", partition="1g.5gb"
    )
    assert flyte.TPU("V5P", "2x2x1").device_class == "TPU"
    assert flyte.Neuron("Inf2").quantity == 1 and flyte.AMD_GPU("MI300X").device == "MI300X"
    assert flyte.HABANA_GAUDI("Gaudi1").device_class == "HABANA_GAUDI"
    with pytest.raises(InvalidOptionError, match="A10G"):
        flyte.GPU("B100", 1)
    with pytest.raises(InvalidOptionError, match="invalid partition for A100"):
        flyte.GPU("A100", 1, partition="9g.99gb")
    with pytest.raises(InvalidOptionError, match="T4 cannot be partitioned"):
        flyte.GPU("T4", 1, partition="1g.5gb")
    with pytest.raises(InvalidOptionError, match="at least 1"):
        flyte.Device(quantity=0, device_class="GPU")
    got = flyte.Resources(gpu="A100 80G:8").get_device()
    assert got is not None and (got.device, got.quantity) == ("A100 80G", 8)
    assert flyte.Resources(gpu=0).get_device() is None


# --- Timeout ---------------------------------------------------------------------------


def test_timeout_keyword_forms_and_unlimited() -> None:
    t = flyte.Timeout(max_runtime=timedelta(minutes=1), max_queued_time=30)
    assert (t.seconds, t.queued_seconds, t.deadline_seconds) == (60.0, 30.0, None)
    assert flyte.Timeout(max_queued_time=5).seconds is None

    @env.task(timeout=0)
    def unlimited() -> None: ...

    @env.task(timeout=flyte.Timeout())
    def also_unlimited() -> None: ...

    assert unlimited.timeout is None and also_unlimited.timeout is None
    with pytest.raises(InvalidOptionError, match="deadline"):
        flyte.Timeout(deadline=-1)
    with pytest.raises(InvalidOptionError, match="max_runtime must be seconds"):
        flyte.Timeout(max_runtime="1m")  # type: ignore[arg-type]


@env.task(retries=5, timeout=flyte.Timeout(deadline=0.2))
async def past_deadline(key: str) -> None:
    seen.setdefault(key, []).append(1)
    await asyncio.sleep(30)


def test_deadline_bounds_all_attempts(store: Any, request: pytest.FixtureRequest) -> None:
    key = request.node.name
    with pytest.raises(flyte.errors.TaskTimeoutError, match=r"deadline of 0\.2s"):
        flyte.run(past_deadline, key)
    assert seen[key] == [1]  # no retry starts past the deadline
    run = flyte.remote.Run.listall(limit=1)[0]
    assert run.phase is Phase.TIMED_OUT


# --- cluster-only names ----------------------------------------------------------------


def test_cluster_only_options_are_validated_recorded_and_noted(
    capfd: pytest.CaptureFixture[str],
) -> None:
    import flyte._cluster

    flyte._cluster._noted.discard("queue=")

    @env.task(queue="gpu-queue", triggers=flyte.Trigger.hourly("at"), entrypoint=True)
    def scheduled(at: str = "") -> str:
        return at

    assert scheduled.settings["cluster_only"] == {
        "queue": "gpu-queue",
        "triggers": [{"name": "hourly", "automation": "Cron('0 * * * *', UTC)"}],
    }
    assert scheduled.settings["entrypoint"] is True
    err = capfd.readouterr().err
    assert err.count("flyte: note: queue= is recorded") == 1

    @env.task(queue="other")
    def again() -> None: ...

    assert "queue=" not in capfd.readouterr().err  # once per process
    with pytest.raises(InvalidOptionError, match="cron expression"):
        flyte.Cron("every hour")
    with pytest.raises(InvalidOptionError, match=r"must be flyte\.Trigger"):
        env.task(triggers=("hourly",))(lambda: None)
    with pytest.raises(InvalidOptionError, match="at least 2"):
        flyte.Trigger("t", flyte.FixedRate(5), max_action_concurrency=1)
    with pytest.raises(InvalidOptionError, match="include must be a tuple"):
        flyte.TaskEnvironment("inc", include="x.py")  # type: ignore[arg-type]


def test_upstream_constructors_of_options_and_errors() -> None:
    assert flyte.Secret("api-key", as_env_var="API_KEY").env_var == "API_KEY"
    image = flyte.Image.from_ref_name("gpu").clone(name="mine", python_version=(3, 12))
    assert image.name == "mine" and image.python_version == (3, 12) and image.uri == "mine:local"
    err = flyte.errors.RuntimeUserError("ValueError", "bad x")
    assert (err.code, str(err)) == ("ValueError", "bad x")
    assert flyte.errors.RuntimeSystemError("Oops", "broken").code == "Oops"
    assert flyte.errors.RemoteTaskNotFoundError is flyte.errors.TaskNotFoundError
    assert flyte.build(image).uri == "mine:local"


# --- logger, ctx(), durable ------------------------------------------------------------


@env.task
def logs_and_context() -> str:
    flyte.logger.info("hello %s", "logger")
    c = flyte.ctx()
    assert c is not None
    c.data["k"] = 1
    assert flyte.ctx().data == {"k": 1} and flyte.ctx()["k"] == 1
    assert c.replace(data={"j": 2}).data == {"k": 1, "j": 2}
    assert c.run_start_time is not None and c.output_path.endswith(c.action.name)
    assert not c.is_in_cluster() and c.interactive_mode is False
    return c.action.run_name


def test_logger_lines_are_captured_per_action(store: Any) -> None:
    run = flyte.run(logs_and_context)
    lines = [(line.action, line.stream, line.line) for line in store.logs(run.name)]
    assert ("a0", "log", "INFO hello logger") in lines
    assert run.outputs()[0] == run.name


@env.task(retries=2)
async def durable_checkpoints(key: str) -> float:
    t = flyte.durable.time()
    n = await flyte.durable.now.aio()
    await flyte.durable.sleep.aio(0)
    seen.setdefault(key, []).append((t, n))
    if len(seen[key]) < 3:
        raise RuntimeError("retry me")
    return t


def test_durable_time_replays_across_attempts(store: Any, request: pytest.FixtureRequest) -> None:
    key = request.node.name
    run = flyte.run(durable_checkpoints, key)
    assert len(set(seen[key])) == 1  # every attempt saw the first attempt's time and now
    traces = [a for a in run.actions() if a.kind.value == "trace"]
    assert {a.name for a in traces} == {"durable_time", "durable_now", "durable_sleep_start"}
    assert run.outputs()[0] == seen[key][0][0]


def test_durable_outside_a_task_is_plain_time() -> None:
    assert abs(flyte.durable.time() - __import__("time").time()) < 60
    flyte.durable.sleep(0)
    with pytest.raises(TypeError, match="seconds must be a number"):
        flyte.durable.sleep("1")


# --- inputs and handles ----------------------------------------------------------------


@dataclasses.dataclass
class Config:
    name: str
    lr: float = 0.1
    layers: list[int] = dataclasses.field(default_factory=lambda: [1])


@dataclasses.dataclass
class Outer:
    config: Config
    runs: int = 1


@env.task
def configured(cfg: Config, outer: Outer, many: list[Config]) -> str:
    assert isinstance(cfg, Config) and isinstance(outer.config, Config)
    return f"{cfg.name}:{cfg.lr}:{outer.config.name}:{outer.runs}:{[c.name for c in many]}"


def test_run_coerces_dicts_into_dataclasses(store: Any) -> None:
    run = flyte.run(
        configured,
        {"name": "a"},
        outer={"config": {"name": "b", "lr": 0.5}},
        many=[{"name": "c"}, Config("d")],
    )
    assert run.outputs()[0] == "a:0.1:b:1:['c', 'd']"
    with pytest.raises(InvalidOptionError, match="Config has no field 'nme'"):
        flyte.run(configured, {"nme": "a"}, outer={"config": {"name": "b"}}, many=[])
    with pytest.raises(InvalidOptionError, match="cannot make Config"):
        flyte.run(configured, {}, outer={"config": {"name": "b"}}, many=[])


class Batch(pydantic.BaseModel):
    size: int
    name: str = "default"


@env.task
def batch(b: Batch) -> str:
    return f"{b.name}:{b.size}"


def test_run_coerces_dicts_into_pydantic_models(store: Any) -> None:
    assert flyte.run(batch, b={"size": 3}).outputs()[0] == "default:3"
    with pytest.raises(InvalidOptionError, match="not a valid Batch"):
        flyte.run(batch, b={"size": "many"})


@env.task
def seven(x: int) -> int:
    return 7 * x


@env.task
async def returns_handle(x: int):
    return seven(x)


def test_an_unawaited_handle_returned_gives_its_value(store: Any) -> None:
    assert flyte.run(returns_handle, 6).outputs()[0] == 42


async def test_module_functions_have_aio_twins(store: Any) -> None:
    await flyte.init_from_config.aio()
    await flyte.init.aio(store=store)
    run = await flyte.run.aio(seven, 2)
    assert run.outputs()[0] == 14
    again = await flyte.rerun.aio(run.name)
    assert again.outputs()[0] == 14 and again.name != run.name
    assert flyte.with_runcontext("local").run(seven, 1).outputs()[0] == 7
    with pytest.raises(flyte.errors.UserError, match="mode must be"):
        flyte.with_runcontext("cloud")


@env.task(retries=3)
def resumes(n: int) -> list[int]:
    cp = flyte.ctx().checkpoint
    prev = cp.load_sync()
    start = int(prev.read_text()) if prev else 0
    done = list(range(start, n))
    for i in range(start, n):
        cp.save_sync(str(i + 1))
        if i in (2, 5) and i > start:
            raise RuntimeError(f"crash at {i}")
    return [start, *done[-1:]]


def test_checkpoints_carry_state_to_the_next_attempt(store: Any, tmp_path: Any) -> None:
    run = flyte.run(resumes, 8)
    assert run.outputs()[0] == [6, 7]  # the third attempt resumed where the second stopped
    assert run.actions()[0].attempts == 3
    d = tmp_path / "tree"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "last.ckpt").write_text("x")
    cp = flyte.Checkpoint(str(tmp_path / "dest"))
    assert cp.load_sync() is None and not cp.prev_exists()
    cp.save_sync(d)
    again = flyte.Checkpoint(str(tmp_path / "next"), str(tmp_path / "dest"))
    restored = again.load_sync()
    assert restored is not None and flyte.latest_checkpoint(restored, "**/last.ckpt") is not None


def test_notifications_are_validated_and_recorded_not_sent(store: Any) -> None:
    from flyte import notify
    from flyte.models import ActionPhase

    slack = notify.Slack(on_phase=ActionPhase.FAILED, webhook_url="https://hooks.example/x")
    mail = notify.Email(on_phase=(ActionPhase.SUCCEEDED, "timed_out"), recipients=["a@b.c"])
    run = flyte.with_runcontext(notifications=(slack, mail, notify.NamedRule(name="oncall"))).run(
        seven, 1
    )
    assert run.record.settings["cluster_only"]["notifications"] == [
        "Slack(on_phase=failed)",
        "Email(on_phase=succeeded,timed_out)",
        "NamedRule(oncall)",
    ]
    with pytest.raises(InvalidOptionError, match="not supported"):
        notify.Webhook(on_phase="exploded", url="https://x")
    with pytest.raises(InvalidOptionError, match="http"):
        notify.Teams(on_phase=ActionPhase.FAILED, webhook_url="hooks.example")
    with pytest.raises(InvalidOptionError, match="not an email address"):
        notify.Email(on_phase=ActionPhase.FAILED, recipients=("oncall",))
    with pytest.raises(InvalidOptionError, match=r"must be flyte\.notify"):
        flyte.with_runcontext(notifications=("slack",))


async def test_run_methods_have_aio_twins(store: Any) -> None:
    run = await flyte.with_runcontext("local").run.aio(seven, 3)
    assert await run.wait.aio() is run
    assert (await run.outputs.aio())[0] == 21
    past = flyte.remote.Run.get(run.name)
    await past.wait.aio()
    assert (await past.outputs.aio())[0] == 21


def test_mode_local_runs_here_even_with_a_server_configured(store: Any) -> None:
    flyte.init(store=store, endpoint="dns:///cluster.example:443")  # an upstream cluster
    run = flyte.with_runcontext("local").run(seven, 4)
    assert run.outputs()[0] == 28
    assert store.get_run(run.name) is not None
